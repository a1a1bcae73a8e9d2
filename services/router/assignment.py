"""Ownership changes after the first routing decision: clocks, reassignment, the pool.

Every function runs inside the caller's unit of work, so the lead row, the rep loads, the
clocks, the history and the outgoing event commit together or not at all.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any, Literal, Protocol
from zoneinfo import ZoneInfo

from leadrelay.services.router.clocks import clock_steps, first_touch_deadline
from leadrelay.services.router.protection import Protection, protection_of, touches_of
from leadrelay.shared.clock import as_utc
from leadrelay.shared.events import (
    Envelope,
    LeadActivity,
    LeadAssigned,
    LeadContact,
    LeadSummary,
    ProtectionCollision,
    ScoreReason,
    SlaEvent,
)
from leadrelay.shared.policy import Policy
from leadrelay.shared.ports import (
    ClockRepository,
    LeadRecord,
    LeadRepository,
    Outbox,
    PersonRepository,
    PolicyRepository,
    RosterRepository,
    Transaction,
)

# A lead in one of these states counts against its owner's open capacity.
OPEN_STATES = ("offered", "assigned", "accepted", "contacted")
POOL_QUEUE = "pool"
# A lead held for the next shift waits in this state, on one clock row of this clock and step:
# the SLA scheduler routes it when the row falls due.
HELD = "held"
HOLD_CLOCK = "hold"
RELEASE_STEP = "route"
# A person's leads read to work out their protection period: their newest ones (a person with
# more leads than this has been the protecting rep's for long).
PROTECTION_WINDOW = 200


class RouterWork(Transaction, Protocol):
    """What routing, the SLA scheduler and ownership changes touch in a unit of work."""

    leads: LeadRepository
    people: PersonRepository
    policies: PolicyRepository
    roster: RosterRepository
    clocks: ClockRepository
    outbox: Outbox


def today(policy: Policy, now: datetime) -> date:
    """Daily caps count in the policy's time zone."""
    return now.astimezone(ZoneInfo(policy.timezone)).date()


async def start_clocks(uow: RouterWork, policy: Policy, lead_id: str, owner: str, grade: str,
                       at: datetime) -> None:
    generation = await uow.leads.count_decisions(lead_id)
    rep = policy.rep(owner) if policy.has_rep(owner) else None
    await uow.clocks.add_many([
        {"timer_id": f"{lead_id}:{generation}:{step.clock}:{step.step}", "lead_id": lead_id, "clock": step.clock,
         "step": step.step, "owner": owner, "due_at": step.due_at}
        for step in clock_steps(policy, rep, grade, at)
    ])
    await start_offer(uow, policy, lead_id, owner, at, generation)


async def start_offer(uow: RouterWork, policy: Policy, lead_id: str, owner: str, at: datetime,
                      generation: int) -> None:
    """With ``sla.offer_timeout`` the owner must accept in time; the offer is a clock too."""
    if policy.sla.offer_timeout is not None:
        await uow.clocks.add(timer_id=f"{lead_id}:{generation}:offer:offer_expired", lead_id=lead_id,
                             clock="offer", step="offer_expired", owner=owner, due_at=at + policy.sla.offer_timeout)


async def hold_for_shift(uow: RouterWork, lead_id: str, until: datetime) -> None:
    """Plans the routing of a held lead at ``until``: a durable clock row like an SLA step, so a
    restart keeps it and two schedulers fire it once. One per routing decision (the generation)."""
    generation = await uow.leads.count_decisions(lead_id)
    await uow.clocks.add(timer_id=f"{lead_id}:{generation}:{HOLD_CLOCK}:{RELEASE_STEP}", lead_id=lead_id,
                         clock=HOLD_CLOCK, step=RELEASE_STEP, owner=None, due_at=until)


def initial_state(policy: Policy) -> str:
    return "offered" if policy.sla.offer_timeout is not None else "assigned"


def summary_of(lead: LeadRecord, *, queue: str | None = None) -> LeadSummary:
    """What the router's events carry about the lead, from its stored record."""
    return LeadSummary(source=lead.source, contact=LeadContact.model_validate(lead.contact), score=lead.score,
                       grade=lead.grade, reasons=[ScoreReason.model_validate(r) for r in lead.reasons or ()],
                       queue=queue if queue is not None else lead.queue)


async def emit_assigned(uow: RouterWork, lead: LeadRecord, *, owner: str | None, queue: str | None, at: datetime,
                        reason: str, rule: str | None, version: int, previous_owner: str | None,
                        notify: list[str], first_touch: tuple[datetime, timedelta] | None = None,
                        backup_for: str | None = None, held_until: datetime | None = None) -> None:
    """``first_touch`` is the owner's deadline and its target (see ``first_touch_deadline``);
    ``held_until``: the lead is (or was) held for the next shift until then."""
    due_at, target = first_touch or (None, None)
    event = LeadAssigned(
        lead_id=lead.lead_id, received_at=as_utc(lead.received_at), assigned_at=at, owner=owner, queue=queue,
        rule=rule, policy_version=version, grade=lead.grade or "cold", score=lead.score or 0, reason=reason,
        previous_owner=previous_owner, notify=notify, first_touch_due_at=due_at, first_touch_target=target,
        backup_for=backup_for, held_until=held_until, lead=summary_of(lead, queue=queue),
    )
    await uow.outbox.emit(Envelope.wrap(event, source="leadrelay/router", subject=lead.lead_id, key=lead.identity_key,
                                 correlation_id=lead.correlation_id, time=at))


def sla_envelope(lead: LeadRecord, *, clock: str, step: str, owner: str | None, notify: list[str], due_at: datetime,
                 at: datetime, detail: str) -> Envelope:
    event = SlaEvent(lead_id=lead.lead_id, clock=clock, step=step, owner=owner, notify=notify, due_at=due_at,
                     fired_at=at, detail=detail, lead=summary_of(lead))
    return Envelope.wrap(event, source="leadrelay/router", subject=lead.lead_id, key=lead.identity_key,
                         correlation_id=lead.correlation_id, time=at)


async def emit_sla(uow: RouterWork, lead: LeadRecord, **step: Any) -> None:
    await uow.outbox.emit(sla_envelope(lead, **step))


async def release(uow: RouterWork, policy: Policy, lead: LeadRecord, now: datetime) -> None:
    """The current owner stops holding the lead: open load down, pending clocks cancelled."""
    if lead.owner and lead.state in OPEN_STATES:
        await uow.roster.lock([lead.owner])
        await uow.roster.adjust_load(lead.owner, today=today(policy, now), open_delta=-1)
    await uow.clocks.cancel(lead.lead_id)


async def reassign(uow: RouterWork, policy: Policy, version: int, lead: LeadRecord, new_owner: str, now: datetime, *,
                   reason: str, why: str, by: str, backup_for: str | None = None) -> None:
    """Gives the lead to ``new_owner`` with fresh clocks; both owners are told. ``backup_for``:
    the new owner takes it as that rep's backup."""
    previous = lead.owner
    # Both owners' rows at once, in the lock order (a caller making several moves locks them all first).
    await uow.roster.lock([rep for rep in (previous, new_owner) if rep])
    await release(uow, policy, lead, now)
    rep = policy.rep(new_owner)
    await uow.roster.adjust_load(new_owner, today=today(policy, now), open_delta=1, assigned=1, at=now)
    await uow.leads.update(lead.lead_id, state=initial_state(policy), owner=new_owner, team=rep.team, queue=None,
                          assigned_at=now, accepted_at=None, contacted_at=None, previous_owner=previous)
    if lead.person_id:
        await uow.people.set_owner(lead.person_id, new_owner)
    await uow.leads.add_decision(lead.lead_id, now, version, reason, reason, new_owner, None, {
        "policy_version": version, "rule": reason, "strategy": reason, "owner": new_owner, "queue": None,
        "via": reason, "summary": why, "previous_owner": previous, "by": by, "candidates": [], "arithmetic": {},
    })
    await start_clocks(uow, policy, lead.lead_id, new_owner, lead.grade or "cold", now)
    await uow.leads.add_history(lead.lead_id, reason, {"owner": new_owner, "previous_owner": previous, "by": by,
                                                 "why": why}, at=now)
    notify = [new_owner] + ([previous] if previous and previous != new_owner else [])
    await emit_assigned(uow, lead, owner=new_owner, queue=None, at=now, reason=reason, rule=reason, version=version,
                        previous_owner=previous, notify=notify, backup_for=backup_for,
                        first_touch=first_touch_deadline(policy, rep, lead.grade or "cold", now))


def owners_team(policy: Policy, lead: LeadRecord) -> str | None:
    """The team of the lead's owner under ``policy``, else the team the lead last had."""
    if lead.owner and policy.has_rep(lead.owner):
        return policy.rep(lead.owner).team
    return lead.team


def queue_team(policy: Policy, queue: str | None, team: Any = None) -> str | None:
    """The team a lead parked in ``queue`` belongs to: ``team`` (the team routing parked it
    for) when the policy names it, else the one team whose ``fallback_queue`` is ``queue``.
    None when no single team owns the queue: the lead never had a team."""
    if isinstance(team, str) and any(t.name == team for t in policy.teams):
        return team
    owning = [t.name for t in policy.teams if t.fallback_queue is not None and t.fallback_queue == queue]
    return owning[0] if len(owning) == 1 else None


async def recycle(uow: RouterWork, policy: Policy, lead: LeadRecord, now: datetime, why: str) -> None:
    """Returns an unworked lead to its team's pool (公海) for someone else to claim. The lead
    keeps its team (its owner's): only that team's reps may claim it."""
    team = owners_team(policy, lead)
    await release(uow, policy, lead, now)
    await uow.leads.update(lead.lead_id, state="pool", owner=None, team=team, queue=POOL_QUEUE,
                          previous_owner=lead.owner, recycled_at=now)
    await uow.leads.add_history(lead.lead_id, "recycled", {"previous_owner": lead.owner, "team": team, "why": why},
                          at=now)


async def protection_for(uow: RouterWork, policy: Policy, person_id: str | None, now: datetime) -> Protection | None:
    """The protection period the person is in at ``now``, from their owner and their leads'
    stored times; None without ``protection`` in the policy, without an owner, or when the
    owner is gone from the policy (then routing is as usual)."""
    if policy.protection is None or not person_id:
        return None
    # Locked: a routing decision and a pool claim over one person take turns (person, then roster
    # rows: the order both take), so two reps cannot both get the person at once.
    person = await uow.people.get(person_id, lock=True)
    if person is None or not person.owner or not policy.has_rep(person.owner):
        return None
    leads = await uow.leads.of_persons([person_id], limit=PROTECTION_WINDOW)
    # Every activity as the history has it: a lead's record keeps only its latest contact.
    activities = {lead.lead_id: [(entry.kind, entry.at) for entry in await uow.leads.history(lead.lead_id)]
                  for lead in leads if lead.owner == person.owner}
    return protection_of(person.owner, touches_of(leads, person.owner, activities), policy.protection, now)


async def record_collision(uow: RouterWork, policy: Policy, summary: LeadSummary, *,
                           lead_id: str, key: str, correlation_id: str, protection: Protection, other_rep: str,
                           kind: Literal["routing", "claim"], rule: str | None, at: datetime) -> None:
    """Writes a collision into the lead's history and tells both reps' managers (a
    ``lead.activity`` of action ``collision``, which the notifier turns into their messages)."""
    zone = ZoneInfo(policy.timezone)
    said = protection.explain(zone)
    reason = (f"rule {rule!r} would have given it to {other_rep}; {said}" if kind == "routing"
              else f"{other_rep} tried to claim it; {said}")
    await uow.leads.add_history(lead_id, "collision", {
        "how": kind, "other_rep": other_rep, "rule": rule, "summary": reason, "protection": protection.as_json()},
        at=at)
    collision = ProtectionCollision(kind=kind, protected_by=protection.rep, protected_until=protection.until,
                                    last_touch=protection.last.kind, last_touch_at=protection.last.at, rule=rule)
    activity = LeadActivity(lead_id=lead_id, actor=other_rep, action="collision", reason=reason,
                            to_rep=protection.rep, at=at, lead=summary, collision=collision)
    await uow.outbox.emit(Envelope.wrap(activity, source="leadrelay/router", subject=lead_id, key=key,
                                        correlation_id=correlation_id, time=at))
