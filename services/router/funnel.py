"""The funnel: how a period's leads went received → assigned → accepted → contacted → converted
or lost, how fast they were first touched, how many kept the first-touch SLA, grouped.

Pure: the caller reads the leads (``ReportRepository.funnel_leads``) and passes them in.

What a lead counts for, once per stage and group (each lead is in exactly one group):
- **received**: every lead of the period (the period is the caller's choice of ``received_at``);
- **assigned**: it was ever given to a rep (routed, offered, reassigned or claimed from the pool);
  a lead that only ever waited in a queue is received but not assigned;
- **accepted**: a rep accepted, contacted or converted it (a contact is also an acceptance, as
  it is for the SLA clocks);
- **contacted**: a rep contacted or converted it (nobody closes a deal without touching the lead);
- **converted** / **lost**: how it was closed, the last of the two if both were ever recorded. A
  lost lead keeps the stage it reached: lost straight from assigned is neither accepted nor contacted.

Hence, in every row: received ≥ assigned ≥ accepted ≥ contacted ≥ converted, and
converted + lost ≤ assigned; summing a grouped report's rows gives the overall one.

- **time to first touch**: from the lead's first assignment to the first ``accepted`` or
  ``contacted`` after it, in elapsed (wall-clock) time; p50 and p90 over the leads that were
  touched, by the nearest-rank method (the smallest value at least that share of them is at or
  under), so each percentile is one lead's actual wait. None when no lead of the group was touched.
- **SLA compliance**: of the leads a first-touch clock was planned for, the share whose clock
  never breached (the scheduler fired no escalate step; a lead still inside its deadline has not
  breached). None when no lead of the group had such a clock.
- **conversion rate**: converted ÷ received.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Literal, get_args

from leadrelay.shared.ports.records import LeadJourney
from leadrelay.shared.ports.reports import ASSIGNMENT_KINDS

__all__ = ["GROUP_KEYS", "FunnelRow", "GroupKey", "LeadStages", "funnel", "nearest_rank", "stages_of"]

GroupKey = Literal["source", "rep", "team", "grade", "rule", "policy_version"]
GROUP_KEYS: tuple[GroupKey, ...] = get_args(GroupKey)
GroupValue = str | int | None

# How far down the funnel each history kind takes a lead.
ASSIGNED, ACCEPTED, CONTACTED = 1, 2, 3
_DEPTH: Mapping[str, int] = MappingProxyType(
    {**dict.fromkeys(ASSIGNMENT_KINDS, ASSIGNED), "accepted": ACCEPTED, "contacted": CONTACTED})
_FIRST_TOUCH_KINDS = frozenset({"accepted", "contacted"})

# What each group key reads of a lead. ``rep``: who holds it, else who last held it (a lead
# recycled to the pool stays its last owner's in the report).
_GROUP_VALUE: Mapping[GroupKey, Callable[[LeadJourney], GroupValue]] = MappingProxyType({
    "source": lambda lead: lead.source,
    "rep": lambda lead: lead.owner or lead.previous_owner,
    "team": lambda lead: lead.team,
    "grade": lambda lead: lead.grade,
    "rule": lambda lead: lead.rule,
    "policy_version": lambda lead: lead.policy_version,
})


@dataclass(frozen=True)
class LeadStages:
    """Where one lead got to: how deep (0 received … 3 contacted), how it closed, its first touch."""

    depth: int
    outcome: Literal["converted", "lost"] | None
    first_touch: timedelta | None


@dataclass(frozen=True)
class FunnelRow:
    """One group's funnel. ``group`` holds the value of each ``by`` key, in the order asked
    (empty for the overall row); a None value is leads with none (no rep, no rule, …)."""

    group: tuple[tuple[GroupKey, GroupValue], ...]
    received: int
    assigned: int
    accepted: int
    contacted: int
    converted: int
    lost: int
    first_touch_p50: timedelta | None
    first_touch_p90: timedelta | None
    sla_clocks: int
    sla_breached: int

    @property
    def sla_compliance(self) -> float | None:
        return (self.sla_clocks - self.sla_breached) / self.sla_clocks if self.sla_clocks else None

    @property
    def conversion_rate(self) -> float | None:
        return self.converted / self.received if self.received else None


def stages_of(lead: LeadJourney) -> LeadStages:
    """How far ``lead`` got, from its milestones (in the order they happened)."""
    depth = 0
    outcome: Literal["converted", "lost"] | None = None
    assigned_at: datetime | None = None
    first_touch: timedelta | None = None
    for milestone in lead.milestones:
        depth = max(depth, _DEPTH.get(milestone.kind, 0))
        if milestone.kind in ASSIGNMENT_KINDS and assigned_at is None:
            assigned_at = milestone.at
        elif milestone.kind in _FIRST_TOUCH_KINDS and assigned_at is not None and first_touch is None:
            first_touch = max(milestone.at - assigned_at, timedelta(0))
        elif milestone.kind == "converted":
            outcome = "converted"
        elif milestone.kind == "lost":
            outcome = "lost"
    if outcome == "converted":
        depth = max(depth, CONTACTED)
    elif outcome == "lost":
        depth = max(depth, ASSIGNED)
    return LeadStages(depth, outcome, first_touch)


def nearest_rank(values: Sequence[timedelta], share: float) -> timedelta | None:
    """The smallest of ``values`` that at least ``share`` (0 < share ≤ 1) of them are at or under."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(math.ceil(share * len(ordered)), 1) - 1]


def funnel(leads: Iterable[LeadJourney], by: Sequence[GroupKey] = ()) -> list[FunnelRow]:
    """The funnel of ``leads`` grouped by the ``by`` keys (in that order; a key named twice counts
    once), rows ordered by their group values (None last). No ``by``: one overall row, also when
    there are no leads (all zeros); with ``by``, a group exists only when it has a lead. Raises
    ValueError for a key that is not one of ``GROUP_KEYS``."""
    keys = tuple(dict.fromkeys(by))
    if unknown := [key for key in keys if key not in GROUP_KEYS]:
        raise ValueError(f"cannot group by {unknown}; expected some of {list(GROUP_KEYS)}")
    groups: dict[tuple[GroupValue, ...], list[LeadJourney]] = {} if keys else {(): []}
    for lead in leads:
        groups.setdefault(tuple(_GROUP_VALUE[key](lead) for key in keys), []).append(lead)
    rows = [_row(tuple(zip(keys, values, strict=True)), members) for values, members in groups.items()]
    return sorted(rows, key=lambda row: [(value is None, value if value is not None else 0)
                                         for _, value in row.group])


def _row(group: tuple[tuple[GroupKey, GroupValue], ...], leads: list[LeadJourney]) -> FunnelRow:
    stages = [stages_of(lead) for lead in leads]
    touches = [s.first_touch for s in stages if s.first_touch is not None]
    return FunnelRow(
        group=group,
        received=len(stages),
        assigned=sum(s.depth >= ASSIGNED for s in stages),
        accepted=sum(s.depth >= ACCEPTED for s in stages),
        contacted=sum(s.depth >= CONTACTED for s in stages),
        converted=sum(s.outcome == "converted" for s in stages),
        lost=sum(s.outcome == "lost" for s in stages),
        first_touch_p50=nearest_rank(touches, 0.5),
        first_touch_p90=nearest_rank(touches, 0.9),
        sla_clocks=sum(lead.first_touch_clock for lead in leads),
        sla_breached=sum(lead.first_touch_clock and lead.first_touch_breached for lead in leads),
    )
