"""SLA clocks: when each reminder, escalation, reassignment and recycle falls due.

Pure: the caller passes the assignment instant and persists the result as timer rows
(``timer_id`` prefixed with the lead id), so a restart never forgets a deadline.

Three clocks start when a lead is assigned:
- ``handoff``: someone must accept the lead (marketing -> sales) within the target;
- ``first_touch``: the owner must contact the lead within its grade's target;
- ``recycle``: a lead still open after the target returns to the team pool (公海).
The first two climb the ladder (remind -> escalate -> reassign) at fractions of their
target; ``recycle`` has a single ``return_to_pool`` step at 100%.

Under ``clock="business_hours"`` every target and fraction is open time on the given
calendar (24h is 24 open hours, not a calendar day; see ``BusinessCalendar.day_length``
to express business days). Under ``clock="wall"`` it is elapsed real time, so 24h is
exactly 24 hours even across a DST change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Literal

from leadrelay.services.router.business_hours import BusinessCalendar, add_business_time, business_time_between

__all__ = [
    "CLOCK_KINDS",
    "DEFAULT_LADDER",
    "LADDER_STEPS",
    "RECYCLE_STEP",
    "ClockPlan",
    "ClockStep",
    "SlaTargets",
    "plan_clock",
    "plan_clocks",
    "time_to_first_touch",
    "which_clocks_stop",
]

ClockKind = Literal["handoff", "first_touch", "recycle"]
ClockMode = Literal["business_hours", "wall"]

CLOCK_KINDS: tuple[ClockKind, ...] = ("handoff", "first_touch", "recycle")
LADDER_STEPS = ("remind", "escalate", "reassign")
RECYCLE_STEP = "return_to_pool"
DEFAULT_LADDER: Mapping[str, float | None] = MappingProxyType({"remind": 0.5, "escalate": 1.0, "reassign": 1.5})

# Which clocks each rep action stops. A contact is also an acceptance. Recycling
# stops only when the lead is closed, so a lead that was touched once and then left
# still returns to the pool. ``reassign`` stops every clock: they belong to the
# previous owner, and the caller plans fresh ones from the reassignment instant.
_STOPPED_BY: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "accepted": frozenset({"handoff"}),
        "contacted": frozenset({"handoff", "first_touch"}),
        "converted": frozenset(CLOCK_KINDS),
        "lost": frozenset(CLOCK_KINDS),
        "reassign": frozenset(CLOCK_KINDS),
    }
)


@dataclass(frozen=True)
class SlaTargets:
    """The policy's ``sla`` section. A None target (or a grade missing from
    ``first_touch``) means no such clock; a None ladder fraction disables that step."""

    handoff: timedelta | None
    first_touch: Mapping[str, timedelta]
    ladder: Mapping[str, float | None] = field(default_factory=lambda: DEFAULT_LADDER)
    recycle_after: timedelta | None = None
    clock: ClockMode = "business_hours"

    def __post_init__(self) -> None:
        # Copy the mappings so a caller mutating its dict cannot move planned deadlines.
        object.__setattr__(self, "first_touch", MappingProxyType(dict(self.first_touch)))
        object.__setattr__(self, "ladder", MappingProxyType(dict(self.ladder)))
        if unknown := set(self.ladder) - set(LADDER_STEPS):
            raise ValueError(f"unknown ladder steps {sorted(unknown)}; expected {LADDER_STEPS}")
        for step, fraction in self.ladder.items():
            if fraction is not None and fraction < 0:
                raise ValueError(f"ladder step {step} must be a non-negative fraction, got {fraction}")
        targets = {"handoff": self.handoff, "recycle_after": self.recycle_after, **self.first_touch}
        for name, target in targets.items():
            if target is not None and target <= timedelta(0):
                raise ValueError(f"SLA target {name} must be positive, got {target}")
        if self.clock not in ("business_hours", "wall"):
            raise ValueError(f"clock must be business_hours or wall, got {self.clock!r}")


@dataclass(frozen=True)
class ClockStep:
    """One deadline: at ``due_at`` (UTC) the ``step`` of the ``clock`` fires."""

    clock: ClockKind
    step: str
    due_at: datetime

    @property
    def timer_id(self) -> str:
        """Stable per lead: the caller stores ``f"{lead_id}:{timer_id}"`` as the dedup key."""
        return f"{self.clock}:{self.step}"


@dataclass(frozen=True)
class ClockPlan:
    """One clock: its target, when it started, and its steps in due order."""

    clock: ClockKind
    started_at: datetime
    target: timedelta
    steps: tuple[ClockStep, ...]


def plan_clock(
    clock: ClockKind,
    started_at: datetime,
    target: timedelta,
    fractions: Mapping[str, float | None],
    calendar: BusinessCalendar | None,
) -> ClockPlan:
    """Due instants for each enabled step at ``fraction * target`` after ``started_at``.

    With a calendar the fractions are of open time, counted from the next opening;
    with None they are of elapsed real time. Steps come out in due order.
    """
    _require_aware(started_at, "started_at")
    steps = [
        ClockStep(clock, step, _after(started_at, target * fraction, calendar))
        for step, fraction in fractions.items()
        if fraction is not None
    ]
    steps.sort(key=lambda s: (s.due_at, _step_order(s.step)))
    return ClockPlan(clock, started_at.astimezone(UTC), target, tuple(steps))


def plan_clocks(
    assigned_at: datetime,
    grade: str,
    targets: SlaTargets,
    calendar: BusinessCalendar | None,
) -> list[ClockStep]:
    """Every step of every clock that starts when a lead of ``grade`` is assigned.

    Sorted by due instant. ``calendar`` is the owner's (their own time zone may differ
    from the policy's); it is required when ``targets.clock == "business_hours"`` and
    ignored on the wall clock. Raises ValueError without it, rather than silently
    falling back to wall-clock deadlines.
    """
    if targets.clock == "business_hours":
        if calendar is None:
            raise ValueError("a business_hours SLA clock needs a BusinessCalendar")
    else:
        calendar = None
    plans = []
    if targets.handoff is not None:
        plans.append(plan_clock("handoff", assigned_at, targets.handoff, targets.ladder, calendar))
    if (first_touch := targets.first_touch.get(grade)) is not None:
        plans.append(plan_clock("first_touch", assigned_at, first_touch, targets.ladder, calendar))
    if targets.recycle_after is not None:
        only_step = {RECYCLE_STEP: 1.0}
        plans.append(plan_clock("recycle", assigned_at, targets.recycle_after, only_step, calendar))
    steps = [step for plan in plans for step in plan.steps]
    steps.sort(key=lambda s: (s.due_at, CLOCK_KINDS.index(s.clock), _step_order(s.step)))
    return steps


def which_clocks_stop(action: str) -> set[str]:
    """The clock kinds a rep's action stops (cancel all their steps' timers).

    ``accepted`` stops handoff; ``contacted`` stops handoff and first_touch;
    ``converted``, ``lost`` and ``reassign`` stop all three. Raises ValueError for an
    unknown action, so a new action cannot silently leave clocks running.
    """
    try:
        return set(_STOPPED_BY[action])
    except KeyError:
        raise ValueError(f"unknown action {action!r}; expected one of {sorted(_STOPPED_BY)}") from None


def time_to_first_touch(assigned_at: datetime, contacted_at: datetime, calendar: BusinessCalendar | None) -> timedelta:
    """Speed-to-lead for metrics: open time with a calendar, elapsed time without.

    Zero if contact precedes assignment (a rep reaching out before routing caught up).
    """
    _require_aware(assigned_at, "assigned_at")
    _require_aware(contacted_at, "contacted_at")
    if calendar is not None:
        return business_time_between(calendar, assigned_at, contacted_at)
    # Via UTC: Python subtracts same-zone datetimes as wall-clock times, off by an hour across DST.
    return max(contacted_at.astimezone(UTC) - assigned_at.astimezone(UTC), timedelta(0))


def _after(start: datetime, duration: timedelta, calendar: BusinessCalendar | None) -> datetime:
    if calendar is not None:
        return add_business_time(calendar, start, duration)
    # Via UTC: Python adds a timedelta to a zoned datetime on the local wall clock, so
    # 24h after 12:00 the day before spring-forward would be only 23h later.
    return start.astimezone(UTC) + duration


def _require_aware(value: datetime, name: str) -> None:
    # A naive datetime would be read as the host's local time: wrong on any server not in UTC.
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got naive {value}")


def _step_order(step: str) -> int:
    return LADDER_STEPS.index(step) if step in LADDER_STEPS else len(LADDER_STEPS)
