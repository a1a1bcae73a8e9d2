"""Ownership changes after the first routing decision: clocks, reassignment, the pool.

Every function runs inside the caller's unit of work, so the lead row, the rep loads, the
clocks, the history and the outgoing event commit together or not at all.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from leadrelay.services.router.clocks import clock_steps, first_touch_deadline
from leadrelay.shared.clock import as_utc
from leadrelay.shared.events import Envelope, LeadAssigned, SlaEvent
from leadrelay.shared.policy import Policy
from leadrelay.shared.ports import UnitOfWork

# A lead in one of these states counts against its owner's open capacity.
OPEN_STATES = ("offered", "assigned", "accepted", "contacted")
POOL_QUEUE = "pool"


def today(policy: Policy, now: datetime) -> date:
    """Daily caps count in the policy's time zone."""
    return now.astimezone(ZoneInfo(policy.timezone)).date()


async def start_clocks(uow: UnitOfWork, policy: Policy, lead_id: str, owner: str, grade: str,
                       at: datetime) -> None:
    generation = await uow.count_assignments(lead_id)
    rep = policy.rep(owner) if policy.has_rep(owner) else None
    await uow.add_clocks([
        {"timer_id": f"{lead_id}:{generation}:{step.clock}:{step.step}", "lead_id": lead_id, "clock": step.clock,
         "step": step.step, "owner": owner, "due_at": step.due_at}
        for step in clock_steps(policy, rep, grade, at)
    ])
    await start_offer(uow, policy, lead_id, owner, at, generation)


async def start_offer(uow: UnitOfWork, policy: Policy, lead_id: str, owner: str, at: datetime,
                      generation: int) -> None:
    """With ``sla.offer_timeout`` the owner must accept in time; the offer is a clock too."""
    if policy.sla.offer_timeout is not None:
        await uow.add_clock(f"{lead_id}:{generation}:offer:offer_expired", lead_id, "offer", "offer_expired", owner,
                            at + policy.sla.offer_timeout)


def initial_state(policy: Policy) -> str:
    return "offered" if policy.sla.offer_timeout is not None else "assigned"


async def emit_assigned(uow: UnitOfWork, lead: Any, *, owner: str | None, queue: str | None, at: datetime,
                        reason: str, rule: str | None, version: int, previous_owner: str | None,
                        notify: list[str], first_touch: tuple[datetime, timedelta] | None = None,
                        backup_for: str | None = None) -> None:
    """``first_touch`` is the owner's deadline and its target (see ``first_touch_deadline``)."""
    due_at, target = first_touch or (None, None)
    event = LeadAssigned(
        lead_id=lead.lead_id, received_at=as_utc(lead.received_at), assigned_at=at, owner=owner, queue=queue,
        rule=rule, policy_version=version, grade=lead.grade or "cold", score=lead.score or 0, reason=reason,
        previous_owner=previous_owner, notify=notify, first_touch_due_at=due_at, first_touch_target=target,
        backup_for=backup_for,
    )
    await uow.emit(Envelope.wrap(event, source="leadrelay/router", subject=lead.lead_id, key=lead.identity_key,
                                 correlation_id=lead.correlation_id, time=at))


def sla_envelope(lead: Any, *, clock: str, step: str, owner: str | None, notify: list[str], due_at: datetime,
                 at: datetime, detail: str) -> Envelope:
    event = SlaEvent(lead_id=lead.lead_id, clock=clock, step=step, owner=owner, notify=notify, due_at=due_at,
                     fired_at=at, detail=detail)
    return Envelope.wrap(event, source="leadrelay/router", subject=lead.lead_id, key=lead.identity_key,
                         correlation_id=lead.correlation_id, time=at)


async def emit_sla(uow: UnitOfWork, lead: Any, **step: Any) -> None:
    await uow.emit(sla_envelope(lead, **step))


async def release(uow: UnitOfWork, policy: Policy, lead: Any, now: datetime) -> None:
    """The current owner stops holding the lead: open load down, pending clocks cancelled."""
    if lead.owner and lead.state in OPEN_STATES:
        await uow.adjust_rep_load(lead.owner, today=today(policy, now), open_delta=-1)
    await uow.cancel_clocks(lead.lead_id)


async def reassign(uow: UnitOfWork, policy: Policy, version: int, lead: Any, new_owner: str, now: datetime, *,
                   reason: str, why: str, by: str, backup_for: str | None = None) -> None:
    """Gives the lead to ``new_owner`` with fresh clocks; both owners are told. ``backup_for``:
    the new owner takes it as that rep's backup."""
    previous = lead.owner
    await release(uow, policy, lead, now)
    rep = policy.rep(new_owner)
    await uow.adjust_rep_load(new_owner, today=today(policy, now), open_delta=1, assigned=1, at=now)
    await uow.update_lead(lead.lead_id, state=initial_state(policy), owner=new_owner, team=rep.team, queue=None,
                          assigned_at=now, accepted_at=None, contacted_at=None, previous_owner=previous)
    if lead.person_id:
        await uow.set_person_owner(lead.person_id, new_owner)
    await uow.add_decision(lead.lead_id, now, version, reason, reason, new_owner, None, {
        "policy_version": version, "rule": reason, "strategy": reason, "owner": new_owner, "queue": None,
        "via": reason, "summary": why, "previous_owner": previous, "by": by, "candidates": [], "arithmetic": {},
    })
    await start_clocks(uow, policy, lead.lead_id, new_owner, lead.grade or "cold", now)
    await uow.add_history(lead.lead_id, reason, {"owner": new_owner, "previous_owner": previous, "by": by,
                                                 "why": why}, at=now)
    notify = [new_owner] + ([previous] if previous and previous != new_owner else [])
    await emit_assigned(uow, lead, owner=new_owner, queue=None, at=now, reason=reason, rule=reason, version=version,
                        previous_owner=previous, notify=notify, backup_for=backup_for,
                        first_touch=first_touch_deadline(policy, rep, lead.grade or "cold", now))


async def recycle(uow: UnitOfWork, policy: Policy, lead: Any, now: datetime, why: str) -> None:
    """Returns an unworked lead to its team's pool (公海) for someone else to claim."""
    await release(uow, policy, lead, now)
    await uow.update_lead(lead.lead_id, state="pool", owner=None, queue=POOL_QUEUE, previous_owner=lead.owner,
                          recycled_at=now)
    await uow.add_history(lead.lead_id, "recycled", {"previous_owner": lead.owner, "team": lead.team, "why": why},
                          at=now)
