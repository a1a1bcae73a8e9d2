"""The routing policy: the YAML document sales ops write, as typed, frozen, validated data.

One module per part of the document (``values``, ``hours``, ``people``, ``scoring``, ``sla``,
``rules``) and ``document`` for the whole (:class:`Policy`, :func:`load_policy`); the
conditions of ``when:`` clauses and the facts they read are ``conditions`` and ``facts``.
Everything here is pure: no I/O, no clock. Import from this package, not its modules.
"""

from leadrelay.shared.policy.accounts import (  # noqa: F401
    NAME_MATCH_AT,
    Account,
    AccountMatch,
)
from leadrelay.shared.policy.crm import (  # noqa: F401
    CRMS,
    CrmOwners,
    RepCrm,
)
from leadrelay.shared.policy.document import (  # noqa: F401
    Policy,
    load_policy,
    normalise_domain,
    policy_from_dict,
)
from leadrelay.shared.policy.hours import (  # noqa: F401
    BusinessHours,
    WorkingHours,
)
from leadrelay.shared.policy.people import (  # noqa: F401
    Absence,
    Capacity,
    ChatDestination,
    Manager,
    Rep,
    Team,
    Territory,
)
from leadrelay.shared.policy.protection import (  # noqa: F401
    ProtectionPolicy,
)
from leadrelay.shared.policy.rules import (  # noqa: F401
    AfterHours,
    Fallback,
    Pool,
    PoolPolicy,
    RoutingRule,
)
from leadrelay.shared.policy.scoring import (  # noqa: F401
    Grades,
    ScoringPolicy,
    ScoringRule,
)
from leadrelay.shared.policy.sla import (  # noqa: F401
    FirstTouch,
    Ladder,
    SlaPolicy,
)
from leadrelay.shared.policy.values import (  # noqa: F401
    MATCH_DIMENSIONS,
    SCHEMA_VERSION,
    WEEKDAYS,
    WILDCARD,
    ChatPlatform,
    ClockTime,
    Days,
    Duration,
    Grade,
    Identifier,
    MatchDimension,
    Moment,
    Names,
    NarrowingStrategy,
    Percentage,
    PickStrategy,
    PolicyError,
    Section,
    Seniority,
    Strategy,
    TimeOfDay,
    TimeZoneName,
    Weekday,
    When,
    format_duration,
    format_percentage,
    parse_duration,
    parse_percentage,
)
