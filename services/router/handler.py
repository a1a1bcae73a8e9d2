"""The router consumer: decide who gets a qualified lead, under the roster lock, and say why."""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime
from typing import Any, ClassVar

from leadrelay.services.router.assignment import (
    RouterWork,
    emit_assigned,
    initial_state,
    owners_team,
    queue_team,
    start_clocks,
    start_offer,
    today,
)
from leadrelay.services.router.clocks import first_touch_deadline
from leadrelay.services.router.routing import RepLoad, RosterState, RoutingDecision, RoutingLead, decide_route
from leadrelay.shared.clock import as_utc
from leadrelay.shared.events import Contract, Envelope, LeadAssigned, LeadContact, LeadQualified, LeadSummary
from leadrelay.shared.metrics import Metrics
from leadrelay.shared.policy import Policy
from leadrelay.shared.policy.facts import lead_facts
from leadrelay.shared.ports import LeadRecord

log = logging.getLogger(__name__)


async def load_roster(uow: RouterWork, policy: Policy, now: datetime) -> RosterState:
    """Reads the fairness state. Call with the roster lock held (``uow.roster.lock()``)."""
    day = today(policy, now)
    rows = await uow.roster.loads()
    loads = {}
    for rep_id, row in rows.items():
        closed = row.converted_total + row.lost_total
        loads[rep_id] = RepLoad(
            open=row.open_leads,
            assigned_today=row.assigned_today if row.day == day else 0,
            conversion_rate=(row.converted_total / closed) if closed else None,
            last_assigned_at=as_utc(row.last_assigned_at),
        )
    return RosterState(loads=loads, cursors=await uow.roster.cursors(), credits=await uow.roster.credits())


def explanation(decision: RoutingDecision, version: int) -> dict[str, Any]:
    """What ``GET /v1/leads/{id}`` shows as the decision: everything but the state deltas."""
    return {"policy_version": version,
            **decision.model_dump(mode="json", exclude={"cursor_updates", "credit_updates", "lead_id"})}


async def apply_decision(uow: RouterWork, policy: Policy, version: int, lead_id: str, grade: str,
                         decision: RoutingDecision, now: datetime, *, person_id: str | None) -> None:
    """Writes a decision's effects: fairness state, the lead's owner, the stored explanation."""
    for key, position in decision.cursor_updates.items():
        await uow.roster.set_cursor(key, position)
    for rep_id, delta in decision.credit_updates.items():
        await uow.roster.add_credit(rep_id, delta, f"used by rule {decision.rule}", "router", lead_id)
    if decision.owner:
        rep = policy.rep(decision.owner)
        await uow.roster.adjust_load(decision.owner, today=today(policy, now), open_delta=1, assigned=1, at=now)
        await uow.leads.update(lead_id, state=initial_state(policy), owner=decision.owner, team=rep.team if rep else None,
                              queue=None, assigned_at=now, policy_version=version)
        if person_id:
            await uow.people.set_owner(person_id, decision.owner)
        await start_clocks(uow, policy, lead_id, decision.owner, grade, now)
    else:
        # A parked lead keeps its team: only that team's reps may claim it, only its manager sees it.
        await uow.leads.update(lead_id, state="queued", owner=None, team=parked_team(policy, decision),
                              queue=decision.queue, assigned_at=None, policy_version=version)
    explained = explanation(decision, version)
    await uow.leads.add_decision(lead_id, now, version, decision.rule, decision.strategy, decision.owner,
                           decision.queue, explained)
    await uow.leads.add_history(lead_id, "assigned" if decision.owner else "queued", {
        "owner": decision.owner, "queue": decision.queue, "rule": decision.rule, "policy_version": version,
        "summary": decision.summary,
    }, at=now)


def parked_team(policy: Policy, decision: RoutingDecision) -> str | None:
    """The team whose queue a parked lead waits in: the team of the deciding rule's pool (the
    decision names it), else the team whose ``fallback_queue`` the queue is; None when no rule
    applied and no team owns the policy's fallback queue."""
    return queue_team(policy, decision.queue, decision.arithmetic.get("team"))


def backed_up(decision: RoutingDecision) -> str | None:
    """The rep the new owner stands in for, when the decision fell back to a backup."""
    if decision.via != "backup" or not decision.owner:
        return None
    return (decision.arithmetic.get("backups") or {}).get(decision.owner)


class RouterHandler:
    name: ClassVar[str] = "router"
    events: ClassVar[tuple[type[Contract], ...]] = (LeadQualified,)

    def __init__(self, metrics: Metrics, clock: Any) -> None:
        self.metrics = metrics
        self.clock = clock

    async def __call__(self, lead: LeadQualified, envelope: Envelope, uow: RouterWork) -> None:
        # In-flight leads finish on the policy version they were scored with.
        policy = await uow.policies.get(lead.policy_version)
        now = self.clock()
        await uow.roster.lock()
        roster = await load_roster(uow, policy, now)
        facts = lead_facts(lead.contact, lead.source, score=lead.score, grade=lead.grade,
                           known_owner=lead.known_owner, returning=lead.duplicate_of is not None)
        decision = decide_route(RoutingLead(lead_id=lead.lead_id, facts=facts), policy, roster, now)
        await apply_decision(uow, policy, lead.policy_version, lead.lead_id, lead.grade, decision, now,
                             person_id=lead.person_id)
        notify = ([decision.owner] if decision.owner else []) + [r for r in decision.notify if r != decision.owner]
        first_touch = first_touch_deadline(policy, policy.rep(decision.owner), lead.grade, now) \
            if decision.owner else None
        assigned = LeadAssigned(
            lead_id=lead.lead_id, received_at=lead.received_at, assigned_at=now, owner=decision.owner,
            queue=decision.queue, rule=decision.rule, policy_version=lead.policy_version, grade=lead.grade,
            score=lead.score, reason="routed" if decision.owner else "fallback", notify=notify,
            first_touch_due_at=first_touch[0] if first_touch else None,
            first_touch_target=first_touch[1] if first_touch else None, backup_for=backed_up(decision),
            lead=LeadSummary(source=lead.source, contact=lead.contact, score=lead.score, grade=lead.grade,
                             reasons=lead.reasons, queue=decision.queue),
        )
        await uow.outbox.emit(Envelope.wrap(assigned, source="leadrelay/router", subject=lead.lead_id,
                                     key=envelope.key, correlation_id=envelope.correlation_id, time=now))
        latency = (now - lead.received_at).total_seconds()
        uow.after_commit(lambda: self._observe(decision, latency))
        log.info("lead routed", extra={"lead_id": lead.lead_id, "owner": decision.owner, "queue": decision.queue,
                                       "rule": decision.rule})

    def _observe(self, decision: RoutingDecision, latency: float) -> None:
        if decision.owner:
            self.metrics.assignments.labels(decision.rule or "-", decision.owner).inc()
        else:
            self.metrics.unassigned.labels(decision.queue or "-").inc()
        self.metrics.intake_to_assigned.observe(max(0.0, latency))


async def pass_offer_on(uow: RouterWork, policy: Policy, version: int, lead: LeadRecord, now: datetime) -> None:
    """An offer timed out: route again without everyone who let it lapse. The lead keeps its
    age: its handoff, first-touch and recycle clocks move to the new owner unchanged."""
    previous = lead.owner
    await uow.roster.lock()
    roster = await load_roster(uow, policy, now)
    lapsed = {h.detail.get("owner") for h in await uow.leads.history(lead.lead_id) if h.kind == "offer_expired"}
    lapsed = {rep for rep in lapsed | {previous} if rep}
    roster = dataclasses.replace(roster, excluded={rep: "let the offer lapse" for rep in lapsed})
    facts = lead_facts(LeadContact.model_validate(lead.contact), lead.source, score=lead.score, grade=lead.grade,
                       known_owner=None, returning=lead.duplicate_of is not None)
    decision = decide_route(RoutingLead(lead_id=lead.lead_id, facts=facts), policy, roster, now)
    await uow.leads.add_history(lead.lead_id, "offer_expired", {"owner": previous}, at=now)
    await uow.roster.adjust_load(previous, today=today(policy, now), open_delta=-1)
    for key, position in decision.cursor_updates.items():
        await uow.roster.set_cursor(key, position)
    for rep_id, delta in decision.credit_updates.items():
        await uow.roster.add_credit(rep_id, delta, f"used by rule {decision.rule}", "router", lead.lead_id)
    generation = await uow.leads.count_decisions(lead.lead_id)
    if decision.owner:
        await uow.roster.adjust_load(decision.owner, today=today(policy, now), open_delta=1, assigned=1, at=now)
        await uow.leads.update(lead.lead_id, state="offered", owner=decision.owner,
                              team=policy.rep(decision.owner).team, previous_owner=previous)
        await uow.clocks.transfer(lead.lead_id, decision.owner)
        await start_offer(uow, policy, lead.lead_id, decision.owner, now, generation)
    else:
        await uow.clocks.cancel(lead.lead_id)
        await uow.leads.update(lead.lead_id, state="queued", owner=None,
                              team=parked_team(policy, decision) or owners_team(policy, lead),
                              queue=decision.queue, previous_owner=previous)
    await uow.leads.add_decision(lead.lead_id, now, version, decision.rule, decision.strategy, decision.owner,
                           decision.queue, {**explanation(decision, version), "offer_lapsed_by": sorted(lapsed)})
    await uow.leads.add_history(lead.lead_id, "offered" if decision.owner else "queued", {
        "owner": decision.owner, "queue": decision.queue, "previous_owner": previous, "summary": decision.summary},
        at=now)
    notify = [r for r in ([decision.owner] if decision.owner else []) + [previous, *decision.notify] if r]
    # The lead kept its age: the deadline still counts from the first assignment.
    assigned_at = as_utc(lead.assigned_at) or now
    first_touch = first_touch_deadline(policy, policy.rep(decision.owner), lead.grade or "cold", assigned_at) \
        if decision.owner else None
    await emit_assigned(uow, lead, owner=decision.owner, queue=decision.queue, at=now,
                        reason="reassigned" if decision.owner else "fallback", rule=decision.rule, version=version,
                        previous_owner=previous, notify=list(dict.fromkeys(notify)), first_touch=first_touch,
                        backup_for=backed_up(decision))
