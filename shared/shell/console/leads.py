"""What the console's lead pages show, worked out from the store's records: a lead's SLA
deadline and whether it is breached or at risk, a line per lead, and the use cases' refusals
in the viewer's words."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from leadrelay.shared.clock import as_utc
from leadrelay.shared.policy import Policy
from leadrelay.shared.ports import ClockRecord, LeadRecord, UnitOfWork
from leadrelay.shared.problems import Problem
from leadrelay.shared.shell.console.i18n import t
from leadrelay.shared.shell.console.render import format_when

# The states a rep still works a lead in; then the ones waiting for an owner; then the closed.
OPEN_STATES = ("offered", "assigned", "accepted", "contacted")
WAITING_STATES = ("queued", "pool", "held")
CLOSED_STATES = ("converted", "lost")
STATES = (*OPEN_STATES, *WAITING_STATES, *CLOSED_STATES)
# Which SLA clocks still run in which states (an acceptance stops handoff, a contact first touch).
RUNNING_IN = {"handoff": ("offered", "assigned"), "first_touch": ("offered", "assigned", "accepted")}
# A lead whose target falls within this is at risk (the SLA board's "next hour").
AT_RISK_WITHIN = timedelta(hours=1)

SlaState = Literal["breached", "at_risk", "ok", "none"]


@dataclass(frozen=True)
class Sla:
    """A lead's nearest SLA target (the ladder's ``escalate`` step: 100% of the target) among
    the clocks still running in its state."""

    clock: str | None
    due_at: datetime | None
    seconds_left: float | None
    state: SlaState


def sla_of(lead: LeadRecord, clocks: Sequence[ClockRecord], now: datetime) -> Sla:
    running = [c for c in clocks if lead.state in RUNNING_IN.get(c.clock, ()) and c.state != "cancelled"]
    targets = [c for c in running if c.step == "escalate"] or [c for c in running if c.state == "pending"]
    if not targets:
        return Sla(None, None, None, "none")
    nearest = min(targets, key=lambda c: as_utc(c.due_at))  # type: ignore[arg-type,return-value]
    due = as_utc(nearest.due_at)
    assert due is not None
    left = (due - now).total_seconds()
    state: SlaState = "breached" if left <= 0 else "at_risk" if left <= AT_RISK_WITHIN.total_seconds() else "ok"
    return Sla(nearest.clock, due, left, state)


@dataclass(frozen=True)
class LeadLine:
    """One lead in a list: no contact detail beyond the name and company the API's lists show."""

    lead: LeadRecord
    sla: Sla

    @property
    def lead_id(self) -> str:
        return self.lead.lead_id

    @property
    def label(self) -> str:
        return lead_label(self.lead)

    @property
    def is_open(self) -> bool:
        return self.lead.state in OPEN_STATES


def lead_label(lead: LeadRecord) -> str:
    contact = lead.contact or {}
    name, company = contact.get("name"), contact.get("company")
    if name and company:
        return f"{name} ({company})"
    return name or company or lead.lead_id[:8]


async def lines_of(uow: UnitOfWork, leads: Sequence[LeadRecord], now: datetime) -> list[LeadLine]:
    return [LeadLine(lead, sla_of(lead, await uow.clocks.for_lead(lead.lead_id), now)) for lead in leads]


def work_order(line: LeadLine) -> tuple[int, float, float]:
    """Open leads first, the nearest deadline first; then waiting, then closed, newest first."""
    rank = 0 if line.is_open else 1 if line.lead.state in WAITING_STATES else 2
    left = line.sla.seconds_left if line.sla.seconds_left is not None else float("inf")
    received = as_utc(line.lead.received_at)
    return rank, left, -(received.timestamp() if received else 0.0)


def reason_lines(lead: LeadRecord) -> list[str]:
    """The scoring rules that matched: ``rule (+points)``."""
    lines = []
    for reason in lead.reasons or []:
        name = reason.get("rule") or reason.get("name") or "?"
        points = reason.get("points")
        lines.append(f"{name} ({points:+d})" if isinstance(points, int) else str(name))
    return lines


CONTACT_FIELDS = ("name", "company", "title", "email", "phone", "country", "region", "city", "industry",
                  "employees", "language", "website")


def contact_rows(lead: LeadRecord) -> list[tuple[str, Any]]:
    contact = lead.contact or {}
    return [(field, contact[field]) for field in CONTACT_FIELDS if contact.get(field) not in (None, "")]


def refusal_text(lang: str, problem: Problem, policy: Policy | None, lead: LeadRecord | None, tz: str) -> str:
    """What the use case refused, in the viewer's words: its reason code, explained with the
    policy's numbers (limits, cooldowns) where there are some."""
    reasons = [str(e.get("reason", "")) for e in problem.errors]
    fields = [str(e.get("field", "")) for e in problem.errors]
    reason = reasons[0] if reasons else ""
    pool = policy.pool if policy is not None else None
    if reason.startswith("not allowed from state"):
        return t(lang, "refusal.state", state=t(lang, "state." + reason.rsplit(" ", 1)[-1]))
    if reason == "already claimed":
        return t(lang, "refusal.claimed_first")
    if reason == "previous owner cooling down" and pool is not None and lead is not None:
        until = (as_utc(lead.recycled_at) or as_utc(lead.updated_at)) + pool.previous_owner_cooldown  # type: ignore[operator]
        return t(lang, "refusal.cooldown", until=format_when(until, tz), tz=tz)
    if reason == "daily claim limit reached" and pool is not None:
        return t(lang, "refusal.daily_limit", limit=pool.claims_per_day)
    if reason == "claimed too recently" and pool is not None and pool.min_interval is not None:
        return t(lang, "refusal.interval", minutes=max(1, int(pool.min_interval.total_seconds() // 60)))
    if reason == "required for lost":
        return t(lang, "refusal.lost_reason")
    if "reason" in fields and reason == "required":
        return t(lang, "refusal.reason_required")
    if "to_rep" in fields:
        return t(lang, "refusal.to_rep")
    if "No routing policy" in problem.detail:
        return t(lang, "refusal.no_policy")
    return problem.detail
