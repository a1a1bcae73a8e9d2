"""The protection period (保护期 / 防撞单): while a rep is working a person, no other rep is given
or may claim that person's leads.

Pure: the person's owner, the stored times of their leads and the policy's ``protection`` go in;
whether the person is protected, for whom, until when and why comes out. Nothing is stored for
it: the period is worked out again from the leads' own times (assigned, accepted, contacted,
converted) whenever it is asked, so it can never disagree with them, and the clock decides
whether it has run out.

How the period runs (``protection: {days: D, extend_per_activity_days: E, max_days: M}``):

- Being given a lead of the person (routed, claimed, reassigned) begins a period of D days,
  unless one is running already (a lead given inside a period does not renew it: a person who
  keeps filling forms is not a way to keep them for ever).
- An activity on one of the rep's leads of the person (accepted, contacted, converted) inside
  the period keeps it running at least E days after the activity; never past M days after it
  began (no limit without M). An activity after the period ran out starts nothing.
- Only the person's owner (the rep routing last gave them to) is protected, and only while the
  policy still names them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any, Literal, Protocol

from leadrelay.services.router.routing import RoutingDecision
from leadrelay.shared.policy import ProtectionPolicy

__all__ = ["Protection", "Touch", "protected_decision", "protection_of", "touches_of"]

TouchKind = Literal["assigned", "accepted", "contacted", "converted"]
# At one instant an assignment comes before the activities it makes possible.
_ORDER = {"assigned": 0, "accepted": 1, "contacted": 2, "converted": 3}
_ACTIVITIES = frozenset({"accepted", "contacted", "converted"})
# What a collision's rule is called in the decision, history and metrics.
PROTECTION_RULE = "protection"


class LeadTimes(Protocol):
    """What protection reads of a stored lead (``LeadRecord`` has it)."""

    @property
    def lead_id(self) -> str: ...
    @property
    def owner(self) -> str | None: ...
    @property
    def state(self) -> str: ...
    @property
    def assigned_at(self) -> datetime | None: ...
    @property
    def accepted_at(self) -> datetime | None: ...
    @property
    def contacted_at(self) -> datetime | None: ...
    @property
    def closed_at(self) -> datetime | None: ...


@dataclass(frozen=True)
class Touch:
    """A rep being given a lead of the person, or working it."""

    at: datetime
    kind: TouchKind
    lead_id: str


@dataclass(frozen=True)
class Protection:
    """The person is the rep's until ``until`` (exclusive); ``last`` set that end."""

    rep: str
    since: datetime
    until: datetime
    last: Touch

    def explain(self, zone: tzinfo = UTC) -> str:
        """``protected for rep-li until 2026-12-20: contacted 2026-11-30`` (dates in ``zone``)."""
        return (f"protected for {self.rep} until {self.until.astimezone(zone):%Y-%m-%d}: "
                f"{self.last.kind} {self.last.at.astimezone(zone):%Y-%m-%d}")

    def as_json(self) -> dict[str, Any]:
        return {"rep": self.rep, "since": self.since.isoformat(), "until": self.until.isoformat(),
                "last": {"kind": self.last.kind, "at": self.last.at.isoformat(), "lead_id": self.last.lead_id}}


def touches_of(leads: Iterable[LeadTimes], rep: str,
               activities: Mapping[str, Sequence[tuple[str, datetime]]] | None = None) -> list[Touch]:
    """The rep's touches of a person, from the person's leads the rep owns now (a lead recycled
    to the pool or given to someone else is no longer theirs, and protects nothing).

    ``activities``: each lead's activities as its history recorded them, (kind, at), oldest
    first. A lead's record keeps only its latest contact, so a period extended by an earlier
    contact needs the history; without it the record's own times are used. Activities before
    the rep was given the lead were someone else's and do not count."""
    found: list[Touch] = []
    for lead in leads:
        if lead.owner != rep:
            continue
        assigned = _utc(lead.assigned_at) if lead.assigned_at is not None else None
        if assigned is not None:
            found.append(Touch(assigned, "assigned", lead.lead_id))
        if activities is not None and lead.lead_id in activities:
            done = [(kind, _utc(at)) for kind, at in activities[lead.lead_id] if kind in _ACTIVITIES]
        else:
            done = [(kind, _utc(at)) for kind, at in (("accepted", lead.accepted_at), ("contacted", lead.contacted_at),
                                                      ("converted", lead.closed_at if lead.state == "converted" else None))
                    if at is not None]
        found += [Touch(at, kind, lead.lead_id) for kind, at in done  # type: ignore[arg-type]
                  if assigned is None or at >= assigned]
    return found


def protection_of(rep: str | None, touches: Sequence[Touch], rules: ProtectionPolicy | None,
                  now: datetime) -> Protection | None:
    """The protection ``rep`` holds at ``now`` (aware), or None: no rules, no rep, or run out."""
    if rules is None or not rep:
        return None
    period: Protection | None = None
    longest = rules.longest
    for touch in sorted((t for t in touches if t.at <= now), key=lambda t: (t.at, _ORDER[t.kind], t.lead_id)):
        if touch.kind == "assigned":
            if period is None or touch.at >= period.until:
                period = Protection(rep, touch.at, touch.at + rules.period, touch)
            continue
        if period is None or touch.at >= period.until:
            continue
        until = touch.at + rules.extension
        if longest is not None:
            until = min(until, period.since + longest)
        if until > period.until:
            period = Protection(rep, period.since, until, touch)
    return period if period is not None and now < period.until else None


def protected_decision(decision: RoutingDecision, protection: Protection | None,
                       zone: tzinfo = UTC) -> tuple[RoutingDecision, str | None]:
    """The decision that stands when the lead's person is protected, and the rep the rules would
    have given the lead to instead (a collision), or None.

    The protecting rep gets the lead whatever the rules say (their availability included: the
    person is theirs; the SLA ladder deals with a rep who is away). When the rules chose them
    anyway, their decision stands untouched. The rules' state changes (a rotation cursor moved,
    a credit spent) are dropped with their decision: nobody was given the lead by them."""
    if protection is None or decision.owner == protection.rep:
        return decision, None
    collided = decision.owner
    said = protection.explain(zone)
    if decision.owner:
        said += f"; rule {decision.rule!r} would have given it to {decision.owner}"
    elif decision.rule or decision.queue:
        said += f"; the rules would have {'held it' if decision.held_until else f'parked it in {decision.queue}'}"
    protected = RoutingDecision(
        lead_id=decision.lead_id, owner=protection.rep, queue=None, rule=PROTECTION_RULE, strategy=PROTECTION_RULE,
        via="protection", summary=said, matched_because=f"the person is {said.split(';')[0]}",
        passed_over=decision.passed_over, candidates=[],
        arithmetic={"protection": protection.as_json(),
                    "rules_decision": {"rule": decision.rule, "owner": decision.owner, "queue": decision.queue,
                                       "summary": decision.summary}},
        decided_at=decision.decided_at,
    )
    return protected, collided


def _utc(at: datetime) -> datetime:
    """Stored times are UTC; SQLite hands them back naive."""
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
