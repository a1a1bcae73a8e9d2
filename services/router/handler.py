"""The router consumer: decide who gets a qualified lead, holding the locks of its pool only, and
say why. See ``RoutingScope`` (services/router/routing.py) for why the pool is all it needs."""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime
from typing import Any, ClassVar, Literal
from zoneinfo import ZoneInfo

from leadrelay.services.router.assignment import (
    HELD,
    HOLD_CLOCK,
    RouterWork,
    emit_assigned,
    hold_for_shift,
    initial_state,
    owners_team,
    protection_for,
    queue_team,
    record_collision,
    start_clocks,
    start_offer,
    summary_of,
    today,
)
from leadrelay.services.router.clocks import first_touch_deadline
from leadrelay.services.router.protection import Protection, protected_decision
from leadrelay.services.router.routing import (
    RepLoad,
    RosterState,
    RoutingDecision,
    RoutingLead,
    RoutingScope,
    decide_route,
    routing_scope,
)
from leadrelay.shared.clock import as_utc
from leadrelay.shared.events import Contract, Envelope, LeadAssigned, LeadContact, LeadQualified, LeadSummary
from leadrelay.shared.metrics import Metrics
from leadrelay.shared.policy import Policy
from leadrelay.shared.policy.facts import lead_facts
from leadrelay.shared.ports import ClockRecord, LeadRecord
from leadrelay.shared.tracing import annotate

log = logging.getLogger(__name__)


async def lock_roster(uow: RouterWork, policy: Policy, lead: RoutingLead, now: datetime,
                      *, also: tuple[str | None, ...] = ()) -> RosterState:
    """Locks the fairness rows a decision over ``lead`` may touch (its :func:`routing_scope`,
    plus the reps in ``also`` whose load it moves besides: an owner it takes the lead from) and
    reads their state. Decisions over other pools do not wait for it, nor it for them."""
    scope = routing_scope(lead, policy).with_reps(*also)
    await uow.roster.lock(scope.reps, scope.cursors)
    return await load_roster(uow, policy, now, scope)


async def load_roster(uow: RouterWork, policy: Policy, now: datetime, scope: RoutingScope) -> RosterState:
    """Reads the fairness state of ``scope``, which the caller has locked (``uow.roster.lock``)."""
    day = today(policy, now)
    rows = await uow.roster.loads(scope.reps)
    loads = {}
    for rep_id, row in rows.items():
        closed = row.converted_total + row.lost_total
        loads[rep_id] = RepLoad(
            open=row.open_leads,
            assigned_today=row.assigned_today if row.day == day else 0,
            conversion_rate=(row.converted_total / closed) if closed else None,
            last_assigned_at=as_utc(row.last_assigned_at),
        )
    return RosterState(loads=loads, cursors=await uow.roster.cursors(scope.cursors),
                       credits=await uow.roster.credits(scope.reps))


async def decide_protected(uow: RouterWork, policy: Policy, routed: RoutingLead, person_id: str | None,
                           now: datetime) -> tuple[RoutingDecision, Protection | None, str | None]:
    """Decides where a new lead goes: to the rep protecting its person (protection.py) whatever
    the rules say, else by the rules. Returns the decision, the protection, and the rep the rules
    would have given it to instead (a collision to record), if any."""
    protection = await protection_for(uow, policy, person_id, now)
    roster = await lock_roster(uow, policy, routed, now, also=(protection.rep,) if protection else ())
    decision = decide_route(routed, policy, roster, now)
    decision, collided = protected_decision(decision, protection, ZoneInfo(policy.timezone))
    return decision, protection, collided


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
        await uow.leads.update(lead_id, state=parked_state(decision), owner=None, team=parked_team(policy, decision),
                              queue=decision.queue, assigned_at=None, policy_version=version)
        if decision.held_until is not None:
            await hold_for_shift(uow, lead_id, decision.held_until)
    explained = explanation(decision, version)
    await uow.leads.add_decision(lead_id, now, version, decision.rule, decision.strategy, decision.owner,
                           decision.queue, explained)
    await uow.leads.add_history(lead_id, "assigned" if decision.owner else parked_state(decision), {
        "owner": decision.owner, "queue": decision.queue, "rule": decision.rule, "policy_version": version,
        "summary": decision.summary, **held(decision),
    }, at=now)


def parked_team(policy: Policy, decision: RoutingDecision) -> str | None:
    """The team whose queue a parked lead waits in: the team of the deciding rule's pool (the
    decision names it), else the team whose ``fallback_queue`` the queue is; None when no rule
    applied and no team owns the policy's fallback queue."""
    return queue_team(policy, decision.queue, decision.arithmetic.get("team"))


def parked_state(decision: RoutingDecision) -> str:
    """The state of a lead nobody got: held for the next shift, in the team pool, or queued."""
    return {"hold": HELD, "pool": "pool"}.get(decision.via, "queued")


def held(decision: RoutingDecision) -> dict[str, Any]:
    """What a lead's history says about a hold."""
    return {"held_until": decision.held_until.isoformat()} if decision.held_until else {}


def unowned_reason(decision: RoutingDecision) -> Literal["held", "fallback"]:
    """Why the ``lead.assigned`` event of a lead nobody got names no owner."""
    return "held" if decision.held_until else "fallback"


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

    async def holds(self, leads: list[LeadQualified], uow: RouterWork) -> list[set[str]]:
        """The fairness rows each lead's decision locks (its pool's), so the consumer can split a
        batch where pools do not meet: a protection's rep, read under lock only when deciding,
        is left out here (a rare extra wait, never a wrong decision)."""
        held = []
        for lead in leads:
            scope = routing_scope(routed_lead(lead), await uow.policies.get(lead.policy_version))
            held.append({*(f"rep:{rep}" for rep in scope.reps), *(f"cursor:{key}" for key in scope.cursors)})
        return held

    async def prepare(self, leads: list[LeadQualified], uow: RouterWork) -> None:
        """Before a batch of leads is decided in one transaction: takes every lock the batch's
        decisions will ask for, at once, in the one global order (people by id, then fairness
        rows). Decisions locking their pools one after another would hold one pool's rows while
        waiting for the next pool's, out of that order, and two routers, or a router and a
        claim, could deadlock. Each decision's own lock call then finds its rows already held."""
        now = self.clock()
        scope = RoutingScope()
        for lead in sorted(leads, key=lambda lead: lead.person_id or ""):
            policy = await uow.policies.get(lead.policy_version)
            protection = await protection_for(uow, policy, lead.person_id, now)
            scope = scope.union(routing_scope(routed_lead(lead), policy).with_reps(
                protection.rep if protection else None))
        await uow.roster.lock(scope.reps, scope.cursors)

    async def __call__(self, lead: LeadQualified, envelope: Envelope, uow: RouterWork) -> None:
        # In-flight leads finish on the policy version they were scored with.
        policy = await uow.policies.get(lead.policy_version)
        now = self.clock()
        routed = routed_lead(lead)
        decision, protection, collided = await decide_protected(uow, policy, routed, lead.person_id, now)
        await apply_decision(uow, policy, lead.policy_version, lead.lead_id, lead.grade, decision, now,
                             person_id=lead.person_id)
        notify = ([decision.owner] if decision.owner else []) + [r for r in decision.notify if r != decision.owner]
        first_touch = first_touch_deadline(policy, policy.rep(decision.owner), lead.grade, now) \
            if decision.owner else None
        assigned = LeadAssigned(
            lead_id=lead.lead_id, received_at=lead.received_at, assigned_at=now, owner=decision.owner,
            queue=decision.queue, rule=decision.rule, policy_version=lead.policy_version, grade=lead.grade,
            score=lead.score, reason="routed" if decision.owner else unowned_reason(decision), notify=notify,
            first_touch_due_at=first_touch[0] if first_touch else None,
            first_touch_target=first_touch[1] if first_touch else None, backup_for=backed_up(decision),
            held_until=decision.held_until,
            lead=LeadSummary(source=lead.source, contact=lead.contact, score=lead.score, grade=lead.grade,
                             reasons=lead.reasons, queue=decision.queue),
        )
        await uow.outbox.emit(Envelope.wrap(assigned, source="leadrelay/router", subject=lead.lead_id,
                                     key=envelope.key, correlation_id=envelope.correlation_id, time=now))
        if protection is not None and collided:
            await record_collision(uow, policy, assigned.lead, lead_id=lead.lead_id, key=envelope.key,
                                   correlation_id=envelope.correlation_id, protection=protection, other_rep=collided,
                                   kind="routing", rule=decision.arithmetic["rules_decision"]["rule"], at=now)
        latency = (now - lead.received_at).total_seconds()
        annotate(source=lead.source, rule=decision.rule, strategy=decision.strategy, rep_id=decision.owner,
                 queue=decision.queue, policy_version=lead.policy_version)
        uow.after_commit(lambda: self._observe(decision, latency))
        log.info("lead routed", extra={"lead_id": lead.lead_id, "owner": decision.owner, "queue": decision.queue,
                                       "rule": decision.rule})

    def _observe(self, decision: RoutingDecision, latency: float) -> None:
        if decision.owner:
            self.metrics.assignments.labels(decision.rule or "-", decision.owner).inc()
        elif decision.held_until:
            self.metrics.leads_held.labels(decision.rule or "-").inc()
        else:
            self.metrics.unassigned.labels(decision.queue or "-").inc()
        self.metrics.intake_to_assigned.observe(max(0.0, latency))


def routed_lead(lead: LeadQualified) -> RoutingLead:
    """A qualified lead as routing sees it."""
    facts = lead_facts(lead.contact, lead.source, score=lead.score, grade=lead.grade,
                       known_owner=lead.known_owner, returning=lead.duplicate_of is not None)
    return RoutingLead(lead_id=lead.lead_id, facts=facts)


def offered_lead(lead: LeadRecord) -> RoutingLead:
    """A stored lead as routing sees it when its offer lapses (no known owner: that one let it go)."""
    facts = lead_facts(LeadContact.model_validate(lead.contact), lead.source, score=lead.score, grade=lead.grade,
                       known_owner=None, returning=lead.duplicate_of is not None)
    return RoutingLead(lead_id=lead.lead_id, facts=facts)


def offer_scope(policy: Policy, lead: LeadRecord) -> RoutingScope:
    """The fairness rows :func:`pass_offer_on` locks: the new decision's and the lapsed owner's."""
    return routing_scope(offered_lead(lead), policy).with_reps(lead.owner)


async def pass_offer_on(uow: RouterWork, policy: Policy, version: int, lead: LeadRecord, now: datetime) -> None:
    """An offer timed out: route again without everyone who let it lapse. The lead keeps its
    age: its handoff, first-touch and recycle clocks move to the new owner unchanged."""
    previous = lead.owner
    routed = offered_lead(lead)
    roster = await lock_roster(uow, policy, routed, now, also=(previous,))
    lapsed = {h.detail.get("owner") for h in await uow.leads.history(lead.lead_id) if h.kind == "offer_expired"}
    lapsed = {rep for rep in lapsed | {previous} if rep}
    roster = dataclasses.replace(roster, excluded={rep: "let the offer lapse" for rep in lapsed})
    decision = decide_route(routed, policy, roster, now)
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
        await uow.leads.update(lead.lead_id, state=parked_state(decision), owner=None,
                              team=parked_team(policy, decision) or owners_team(policy, lead),
                              queue=decision.queue, previous_owner=previous)
        if decision.held_until is not None:
            await hold_for_shift(uow, lead.lead_id, decision.held_until)
    await uow.leads.add_decision(lead.lead_id, now, version, decision.rule, decision.strategy, decision.owner,
                           decision.queue, {**explanation(decision, version), "offer_lapsed_by": sorted(lapsed)})
    await uow.leads.add_history(lead.lead_id, "offered" if decision.owner else parked_state(decision), {
        "owner": decision.owner, "queue": decision.queue, "previous_owner": previous, "summary": decision.summary,
        **held(decision)}, at=now)
    notify = [r for r in ([decision.owner] if decision.owner else []) + [previous, *decision.notify] if r]
    # The lead kept its age: the deadline still counts from the first assignment.
    assigned_at = as_utc(lead.assigned_at) or now
    first_touch = first_touch_deadline(policy, policy.rep(decision.owner), lead.grade or "cold", assigned_at) \
        if decision.owner else None
    await emit_assigned(uow, lead, owner=decision.owner, queue=decision.queue, at=now,
                        reason="reassigned" if decision.owner else unowned_reason(decision), rule=decision.rule,
                        version=version, previous_owner=previous, notify=list(dict.fromkeys(notify)),
                        first_touch=first_touch, backup_for=backed_up(decision), held_until=decision.held_until)


async def held_lead(uow: RouterWork, lead: LeadRecord) -> RoutingLead:
    """A held lead as routing sees it when its shift comes: its facts, and the person's owner as
    known now (a returning person's lead, held for their owner's shift, still goes to them)."""
    person = await uow.people.get(lead.person_id) if lead.person_id else None
    facts = lead_facts(LeadContact.model_validate(lead.contact), lead.source, score=lead.score, grade=lead.grade,
                       known_owner=person.owner if person else None, returning=lead.duplicate_of is not None)
    return RoutingLead(lead_id=lead.lead_id, facts=facts)


async def held_scope(uow: RouterWork, policy: Policy, rows: list[ClockRecord],
                     leads: dict[str, LeadRecord]) -> RoutingScope:
    """The fairness rows that routing the held leads among ``rows`` (hold clock rows) may touch."""
    scope = RoutingScope()
    for row in rows:
        lead = leads.get(row.lead_id)
        if row.clock == HOLD_CLOCK and lead is not None and lead.state == HELD:
            scope = scope.union(routing_scope(await held_lead(uow, lead), policy))
    return scope


async def route_held(uow: RouterWork, policy: Policy, version: int, lead: LeadRecord, now: datetime) -> RoutingDecision:
    """A held lead's shift has come: route it as if it arrived now (the policy and the roster of
    now), so its SLA clocks start now. The caller checked that the lead is still held and locked
    its :func:`held_scope`. Returns the decision (another hold, should nobody be on after all)."""
    routed = await held_lead(uow, lead)
    decision, protection, collided = await decide_protected(uow, policy, routed, lead.person_id, now)
    grade = lead.grade or "cold"
    await apply_decision(uow, policy, version, lead.lead_id, grade, decision, now, person_id=lead.person_id)
    if protection is not None and collided:
        await record_collision(uow, policy, summary_of(lead), lead_id=lead.lead_id, key=lead.identity_key,
                               correlation_id=lead.correlation_id, protection=protection, other_rep=collided,
                               kind="routing", rule=decision.arithmetic["rules_decision"]["rule"], at=now)
    notify = ([decision.owner] if decision.owner else []) + [r for r in decision.notify if r != decision.owner]
    first_touch = first_touch_deadline(policy, policy.rep(decision.owner), grade, now) if decision.owner else None
    await emit_assigned(uow, lead, owner=decision.owner, queue=decision.queue, at=now,
                        reason="routed" if decision.owner else unowned_reason(decision), rule=decision.rule,
                        version=version, previous_owner=None, notify=notify, first_touch=first_touch,
                        backup_for=backed_up(decision), held_until=decision.held_until or now)
    log.info("held lead routed", extra={"lead_id": lead.lead_id, "owner": decision.owner, "queue": decision.queue,
                                        "rule": decision.rule})
    return decision
