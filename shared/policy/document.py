"""The routing policy: the YAML document sales ops write, its schema, and its loader.

Policy is data, not code. :func:`load_policy` turns the text into a frozen :class:`Policy` or
raises :class:`PolicyError` listing every problem with its path
(``rules[2].pool.team: unknown team 'enterprize' (did you mean 'enterprise'?)``), so a policy
is either wholly valid or not applied at all. Shape problems are reported first, then
references between sections (teams, reps, backups, managers, territories, accounts): when the
shape is wrong those are checked on the document as written, so one pass lists both kinds.

Values are readable in the document and typed in Python: ``15m``, ``1h30m``, ``1d`` become
``timedelta``; ``50%`` becomes ``0.5``; ``"09:00"`` and ``"24:00"`` become :class:`TimeOfDay`;
``when:`` clauses become parsed :class:`~leadrelay.shared.policy.conditions.Condition` objects.
``Policy.model_dump(mode="json")`` gives back a document that loads to an equal policy.

This module is pure: no I/O, no clock.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import Any

import yaml
from pydantic import (
    ValidationError,
    field_serializer,
    field_validator,
    model_validator,
)

from leadrelay.shared.policy.accounts import (
    Account,
    AccountIndex,
    account_problems,
    accounts_from_document,
    accounts_to_document,
    normalise_domain,
)
from leadrelay.shared.policy.crm import CRMS, CrmOwners
from leadrelay.shared.policy.hours import BusinessHours, WorkingHours
from leadrelay.shared.policy.people import ChatDestination, Manager, Rep, Team, Territory
from leadrelay.shared.policy.protection import ProtectionPolicy
from leadrelay.shared.policy.rules import AfterHours, Fallback, PoolPolicy, RoutingRule
from leadrelay.shared.policy.scoring import ScoringPolicy
from leadrelay.shared.policy.sla import SlaPolicy
from leadrelay.shared.policy.values import (
    SCHEMA_VERSION,
    WILDCARD,
    PolicyError,
    Section,
    TimeZoneName,
    as_tuple,
    did_you_mean,
    duplicate_problems,
    raise_problems,
)

# --- the document ------------------------------------------------------------------------------


class Policy(Section):
    """The whole routing policy. Build it with :func:`load_policy` or :func:`policy_from_dict`."""

    version: int = SCHEMA_VERSION  # the document format's version, not the policy's revision
    timezone: TimeZoneName = "UTC"
    business_hours: BusinessHours = BusinessHours()
    scoring: ScoringPolicy = ScoringPolicy()
    sla: SlaPolicy = SlaPolicy()
    reps: tuple[Rep, ...]
    teams: tuple[Team, ...]
    managers: tuple[Manager, ...] = ()
    territories: dict[str, Territory] = {}
    accounts: dict[str, Account] = {}  # named accounts: by domain, website or company name
    rules: tuple[RoutingRule, ...]
    fallback: Fallback = Fallback()
    pool: PoolPolicy = PoolPolicy()
    after_hours: AfterHours = "backup"  # the default of every rule's after_hours
    crm: CrmOwners = CrmOwners()  # who each rep is in the CRMs (reps[].crm says it per rep too)
    protection: ProtectionPolicy | None = None  # 保护期: none unless the policy says

    @field_validator("version")
    @classmethod
    def _supported(cls, version: int) -> int:
        if version != SCHEMA_VERSION:
            raise ValueError(f"unsupported policy format version {version} (this reads {SCHEMA_VERSION})")
        return version

    @field_validator("accounts", mode="before")
    @classmethod
    def _short_forms(cls, accounts: Any) -> Any:
        return accounts_from_document(accounts)

    @field_validator("accounts")
    @classmethod
    def _one_owner_per_evidence(cls, accounts: dict[str, Account]) -> dict[str, Account]:
        raise_problems(account_problems(accounts))
        return accounts

    @field_serializer("accounts")
    def _as_written(self, accounts: dict[str, Account]) -> dict[str, Any]:
        return accounts_to_document(accounts)

    @model_validator(mode="after")
    def _references_resolve(self) -> Policy:
        raise_problems(_reference_problems(self))
        return self

    # --- lookups (linear scans: rosters are small, and nothing cached can go stale) ---

    @property
    def rep_ids(self) -> tuple[str, ...]:
        return tuple(sorted(rep.id for rep in self.reps))

    def rep(self, rep_id: str) -> Rep:
        """Returns the rep; raises KeyError for an id the policy does not name."""
        for rep in self.reps:
            if rep.id == rep_id:
                return rep
        raise KeyError(f"unknown rep {rep_id!r}")

    def has_rep(self, rep_id: str | None) -> bool:
        return any(rep.id == rep_id for rep in self.reps)

    def team(self, name: str) -> Team:
        """Returns the team; raises KeyError for a name the policy does not name."""
        for team in self.teams:
            if team.name == name:
                return team
        raise KeyError(f"unknown team {name!r}")

    def manager_of(self, rep_id: str) -> str:
        """The manager of the rep's team."""
        return self.team(self.rep(rep_id).team).manager

    def manager(self, manager_id: str) -> Manager | None:
        return next((manager for manager in self.managers if manager.id == manager_id), None)

    def chat_for(self, person_id: str) -> ChatDestination | None:
        """Where to message a rep or a manager, if the policy says."""
        if self.has_rep(person_id):
            return self.rep(person_id).chat
        manager = self.manager(person_id)
        return manager.chat if manager else None

    def timezone_of(self, rep: Rep) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(rep.timezone or self.timezone)

    def hours_of(self, rep: Rep) -> WorkingHours:
        """The rep's own shift, else the business hours (holidays included)."""
        return rep.working_hours or self.business_hours

    def crm_owners(self, crm: str) -> dict[str, str]:
        """Rep id -> the rep's user id in ``crm`` (``hubspot``, ``salesforce``): the reps' own
        ``crm`` ids, overridden by the ``crm`` section's map; {} for a CRM the policy cannot name."""
        if crm not in CRMS:
            return {}
        own = {rep.id: getattr(rep.crm, f"{crm}_owner_id") for rep in self.reps if rep.crm is not None}
        return {**{rep: owner for rep, owner in own.items() if owner}, **getattr(self.crm, crm).owners}

    def account_owner(self, domain: str | None) -> str | None:
        """The owner of the named account of a company domain (or website), if any."""
        found = self.account_index.match(None, domain) if domain else None
        return found.owner if found else None

    @property
    def account_domains(self) -> dict[str, str]:
        """Every named account's domain -> its owner."""
        return {domain: account.owner for account in self.accounts.values() for domain in account.domains}

    @cached_property
    def account_index(self) -> AccountIndex:
        """The named accounts, ready to match leads against (worked out once per policy)."""
        return AccountIndex(self.accounts)

    @classmethod
    def json_schema(cls) -> dict[str, Any]:
        """A JSON Schema of the document, for editors (YAML language servers) and docs."""
        schema = cls.model_json_schema(mode="validation")
        schema["title"] = "Leadrelay routing policy"
        # An account is written either as ``domain: rep`` or as ``name: {owner, domains, names}``.
        accounts = schema["properties"]["accounts"]
        accounts["additionalProperties"] = {"anyOf": [{"type": "string", "description": "the owning rep's id"},
                                                      accounts["additionalProperties"]]}
        return schema


# --- cross-references --------------------------------------------------------------------------


def _field(section: Any, name: str, default: Any = None) -> Any:
    """A field of a validated section, or of the document as written (a mapping) when its shape
    is wrong; ``default`` when absent, as the model would have it."""
    if isinstance(section, Mapping):
        return section.get(name, default)
    return getattr(section, name, default) if isinstance(section, Section) else default


def _entries(section: Any) -> list[tuple[int, Any]] | None:
    """(index, entry) of a list section; None when it is not a list (nothing to check there)."""
    return list(enumerate(section)) if isinstance(section, (list, tuple)) else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _known(entries: list[tuple[int, Any]] | None, key: str) -> list[str] | None:
    """Every entry's name; None when one cannot be read, since a reference to it cannot be checked."""
    if entries is None:
        return None
    names = [_text(_field(entry, key)) for _, entry in entries]
    return [name for name in names if name is not None] if None not in names else None


def _names(value: Any) -> list[tuple[int, str]]:
    """(position, name) of a Names field; a single string stands for a one-item list, as in the model."""
    value = as_tuple(value)
    if not isinstance(value, (list, tuple)):
        return []
    return [(position, name) for position, name in enumerate(value) if isinstance(name, str)]


def _reference_problems(policy: Policy | Mapping[str, Any]) -> list[tuple[str, str]]:
    """Names one section uses for another's entries that do not resolve, and duplicates.

    Reads a validated Policy, or the raw document when its shape is wrong, so one pass reports
    both kinds of problem: then every reference that can be read is checked, and a list that
    cannot be read (a missing section, an entry without a readable name) is not checked against.
    """
    reps = _entries(_field(policy, "reps"))
    teams = _entries(_field(policy, "teams"))
    managers = _entries(_field(policy, "managers", ()))
    rules = _entries(_field(policy, "rules"))
    rep_ids, team_names, manager_ids = _known(reps, "id"), _known(teams, "name"), _known(managers, "id")
    problems: list[tuple[str, str]] = []
    for section, entries, key, what in (("reps", reps, "id", "rep id"), ("teams", teams, "name", "team"),
                                        ("managers", managers, "id", "manager id"),
                                        ("rules", rules, "name", "rule name")):
        problems += duplicate_problems(section, key, [_text(_field(entry, key)) for _, entry in entries or ()], what)

    def unknown(path: str, what: str, name: Any, known: Sequence[str] | None) -> None:
        if isinstance(name, str) and known is not None and name not in known:
            problems.append((path, f"unknown {what} {name!r}{did_you_mean(name, known)}"))

    # Managers are checked only when the policy lists them; the sketch names them freely.
    people = manager_ids + rep_ids if manager_ids and rep_ids is not None else None
    territories = _field(policy, "territories", {})
    territory_names = sorted(str(name) for name in territories) if isinstance(territories, Mapping) else None
    for index, rep in reps or ():
        unknown(f"reps[{index}].team", "team", _field(rep, "team"), team_names)
        backup = _field(rep, "backup")
        if backup is not None and backup == _field(rep, "id"):
            problems.append((f"reps[{index}].backup", "a rep cannot be their own backup"))
        else:
            unknown(f"reps[{index}].backup", "rep", backup, rep_ids)
        if territory_names:
            for position, territory in _names(_field(rep, "territories")):
                if territory != WILDCARD:
                    unknown(f"reps[{index}].territories[{position}]", "territory", territory, territory_names)
    for index, team in teams or ():
        unknown(f"teams[{index}].manager", "manager", _field(team, "manager"), people)
    for index, rule in rules or ():
        pool = _field(rule, "pool")
        unknown(f"rules[{index}].pool.team", "team", _field(pool, "team"), team_names)
        for position, rep_id in _names(_field(pool, "reps")):
            unknown(f"rules[{index}].pool.reps[{position}]", "rep", rep_id, rep_ids)
    for position, person in _names(_field(_field(policy, "fallback"), "notify")):
        unknown(f"fallback.notify[{position}]", "manager", person, people)
    accounts = _field(policy, "accounts", {})
    for name, account in accounts.items() if isinstance(accounts, Mapping) else ():
        if isinstance(account, str):
            unknown(f"accounts.{normalise_domain(str(name))}", "rep", account, rep_ids)
        else:
            short = isinstance(account, Account) and account.short_form(name)
            unknown(f"accounts.{name}" + ("" if short else ".owner"), "rep", _field(account, "owner"), rep_ids)
    crm = _field(policy, "crm")
    for name in ("hubspot", "salesforce"):
        owners = _field(_field(crm, name), "owners", {})
        for rep_id in owners if isinstance(owners, Mapping) else ():
            unknown(f"crm.{name}.owners.{rep_id}", "rep", rep_id, rep_ids)
    return problems


# --- loading -----------------------------------------------------------------------------------


class _PolicyLoader(yaml.SafeLoader):
    """YAML with the surprises taken out: only ``true``/``false`` are booleans (so the
    country ``NO`` stays Norway), ``18:00`` stays a string (YAML 1.1 would read 1080),
    and a key given twice is an error instead of silently keeping the last."""


_PolicyLoader.yaml_implicit_resolvers = {
    first: [
        (tag, regexp) for tag, regexp in resolvers if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:int")
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_PolicyLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_PolicyLoader.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"^[-+]?(?:0|[1-9][0-9_]*)$"), list("-+0123456789")
)


def _construct_mapping(loader: _PolicyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: dict[Any, yaml.Mark] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (first at line {seen[key].line + 1})", key_node.start_mark
            )
        seen[key] = key_node.start_mark
    return loader.construct_mapping(node, deep=True)


_PolicyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_policy(text: str) -> Policy:
    """Parses a policy from YAML text. Returns the frozen Policy; raises PolicyError listing
    every problem as ``path: message``."""
    try:
        data = yaml.load(text, Loader=_PolicyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise PolicyError([f"{where}{problem}"]) from None
    return policy_from_dict(data)


def policy_from_dict(data: Any) -> Policy:
    """Validates an already-parsed document. Returns the Policy; raises PolicyError."""
    if not isinstance(data, Mapping):
        raise PolicyError(["the policy must be a mapping of sections (version, reps, teams, rules, ...)"])
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        problems = _format_errors(exc)
        if not any(error["type"] == "policy" and not error["loc"] for error in exc.errors(include_url=False)):
            # A shape problem stops pydantic before the model's reference check runs: check the
            # references on the document as written, so one pass lists every problem.
            problems += [f"{path}: {message}" for path, message in _reference_problems(data)]
        raise PolicyError(problems) from None


def _path(location: Sequence[str | int]) -> str:
    path = ""
    for part in location:
        if part == "[key]":  # pydantic's marker for a bad mapping key; the key itself came just before
            continue
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def _join(path: str, sub: str) -> str:
    if not sub:
        return path
    if not path or sub.startswith("["):
        return path + sub
    return f"{path}.{sub}"


_FRIENDLY = {
    "missing": "required",
    "extra_forbidden": "unknown field",
}


def _format_errors(exc: ValidationError) -> list[str]:
    lines = []
    for error in exc.errors(include_url=False):
        path = _path(error["loc"])
        ctx = error.get("ctx") or {}
        if error["type"] == "policy":
            lines += [f"{_join(path, sub) or '(document)'}: {message}" for sub, message in ctx["problems"]]
            continue
        if error["type"] == "value_error":
            message = str(ctx.get("error", error["msg"]))
        else:
            message = _FRIENDLY.get(error["type"], error["msg"])
        lines.append(f"{path or '(document)'}: {message[:1].lower()}{message[1:]}")
    return lines
