"""What reps and managers do with routed leads, as use cases: act on a lead, claim from the
pool, and who may see what. The HTTP routes and the chat actions call these; they take the
ports they use, never the HTTP request."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from leadrelay.services.router.assignment import reassign, today
from leadrelay.services.router.clocks import owner_calendar
from leadrelay.services.router.sla import time_to_first_touch, which_clocks_stop
from leadrelay.shared.clock import Clock, as_utc
from leadrelay.shared.events import Envelope, LeadActivity
from leadrelay.shared.metrics import Metrics
from leadrelay.shared.policy import Policy
from leadrelay.shared.ports import LeadRecord, Store, UnitOfWork
from leadrelay.shared.problems import Conflict, Forbidden, InvalidField, NotFound
from leadrelay.shared.security import Principal


def team_reps(policy: Policy | None, manager_id: str | None) -> set[str]:
    if policy is None or manager_id is None:
        return set()
    teams = {team.name for team in policy.teams if team.manager == manager_id}
    return {rep.id for rep in policy.reps if rep.team in teams}


async def can_see(uow: UnitOfWork, principal: Principal, lead: LeadRecord) -> bool:
    """A lead outside the caller's reach is answered 404, so its existence does not leak."""
    match principal.role:
        case "admin":
            return True
        case "source":
            return lead.source == principal.name
        case "rep":
            return lead.owner is not None and lead.owner == principal.rep_id
        case "manager":
            current = await uow.policies.current()
            return lead.owner in team_reps(current[1] if current else None, principal.rep_id) or (
                lead.owner is None and current is not None)
    return False


async def found(uow: UnitOfWork, lead_id: str) -> LeadRecord:
    lead = await uow.leads.get(lead_id)
    if lead is None:
        raise NotFound(f"No lead {lead_id}.")
    return lead


class ActivityIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["accepted", "contacted", "converted", "lost", "reassign"]
    reason: str | None = Field(default=None, max_length=500)
    to_rep: str | None = Field(default=None, max_length=100)


# Which states an action may start from; anything else is a 409 naming the current state.
ALLOWED_FROM = {
    "accepted": ("offered", "assigned"),
    "contacted": ("offered", "assigned", "accepted"),
    "converted": ("offered", "assigned", "accepted", "contacted"),
    "lost": ("offered", "assigned", "accepted", "contacted"),
    "reassign": ("offered", "assigned", "accepted", "contacted", "queued", "pool"),
}


async def current_policy(uow: UnitOfWork) -> tuple[int, Policy]:
    current = await uow.policies.current()
    if current is None:
        raise Conflict("No routing policy has been applied yet.")
    return current


def actor_of(principal: Principal) -> str:
    return principal.rep_id or principal.role


async def record_activity(store: Store, clock: Clock, metrics: Metrics, principal: Principal, lead_id: str,
                          body: ActivityIn) -> LeadRecord:
    """A rep's action on their lead, or a manager's reassignment: the lead's state, its clocks,
    the owner's load, the history and a ``lead.activity`` event, in one transaction. The HTTP
    route and the chat actions both call this. Returns the lead as it is afterwards."""
    now = clock()
    observe: list[Any] = []
    async with store.transaction() as uow:
        lead = await uow.leads.get(lead_id, lock=True)
        if lead is None or not await can_see(uow, principal, lead) or principal.role == "source":
            raise NotFound(f"No lead {lead_id} that you can see.")
        version, policy = await current_policy(uow)
        if lead.state not in ALLOWED_FROM[body.action]:
            raise Conflict(f"A lead that is '{lead.state}' cannot be marked '{body.action}'.",
                           errors=[{"field": "action", "reason": f"not allowed from state {lead.state}"}])
        if body.action == "reassign":
            if principal.role not in ("manager", "admin"):
                raise Forbidden("Only a manager or an admin can reassign a lead.",
                                errors=[{"field": "action", "reason": "reassign needs a manager"}])
            if not body.to_rep or not policy.has_rep(body.to_rep):
                raise InvalidField("to_rep must name a rep of the current policy.",
                                   errors=[{"field": "to_rep", "reason": "unknown rep"}])
            await reassign(uow, policy, version, lead, body.to_rep, now, reason="reassigned",
                           why=f"reassigned by {actor_of(principal)}" + (f": {body.reason}" if body.reason else ""),
                           by=actor_of(principal))
        else:
            if body.action == "lost" and not body.reason:
                raise InvalidField("Say why the lead was lost.", errors=[{"field": "reason", "reason": "required for lost"}])
            # Any action on an offered lead takes the offer.
            await uow.clocks.cancel(lead_id, sorted(which_clocks_stop(body.action) | {"offer"}))
            values: dict[str, Any] = {"state": body.action}
            if body.action == "accepted":
                values["accepted_at"] = now
            elif body.action == "contacted":
                values["contacted_at"] = now
                assigned_at = as_utc(lead.assigned_at)
                if assigned_at is not None:
                    rep = policy.rep(lead.owner) if lead.owner and policy.has_rep(lead.owner) else None
                    waited = time_to_first_touch(assigned_at, now, owner_calendar(policy, rep))
                    observe.append(lambda: metrics.time_to_first_touch.observe(waited.total_seconds()))
            else:
                values["closed_at"] = now
                if lead.owner:
                    await uow.roster.adjust_load(lead.owner, today=today(policy, now), open_delta=-1,
                                              converted=int(body.action == "converted"),
                                              lost=int(body.action == "lost"))
                source, outcome = lead.source, body.action
                observe.append(lambda: metrics.conversions.labels(outcome, source).inc())
            await uow.leads.update(lead_id, **values)
            await uow.leads.add_history(lead_id, body.action, {"by": actor_of(principal), "reason": body.reason}, at=now)
        activity = LeadActivity(lead_id=lead_id, actor=actor_of(principal), action=body.action, reason=body.reason,
                                to_rep=body.to_rep, at=now)
        await uow.outbox.emit(Envelope.wrap(activity, source="leadrelay/api", subject=lead_id, key=lead.identity_key,
                                     correlation_id=lead.correlation_id, time=now))
        action = body.action
        uow.after_commit(lambda: metrics.activities.labels(action).inc())
        for callback in observe:
            uow.after_commit(callback)
    async with store.read() as uow:
        return await found(uow, lead_id)


def rep_of(principal: Principal) -> str:
    if principal.role != "rep" or not principal.rep_id:
        raise Forbidden("Only a rep can claim from the pool.", errors=[{"field": "Authorization", "reason": "not a rep"}])
    return principal.rep_id


async def claim_from_pool(store: Store, clock: Clock, principal: Principal, lead_id: str) -> LeadRecord:
    """A rep takes a lead from the team pool: the first claim wins (the row lock lines claims
    up), within the policy's claim limits. Returns the lead as it is afterwards."""
    rep_id = rep_of(principal)
    now = clock()
    async with store.transaction() as uow:
        # The row lock makes concurrent claims line up: the first wins, the rest see it taken.
        lead = await uow.leads.get(lead_id, lock=True)
        version, policy = await current_policy(uow)
        if lead is None or not policy.has_rep(rep_id) or not in_reach_of_pool(policy, rep_id, lead):
            raise NotFound(f"No lead {lead_id} in a pool you can claim from.")
        if lead.state not in ("pool", "queued"):
            raise Conflict("Someone claimed this lead first.", errors=[{"field": "lead", "reason": "already claimed"}])
        rules = policy.pool
        cooldown_until = (as_utc(lead.recycled_at) or now) + rules.previous_owner_cooldown
        if lead.previous_owner == rep_id and now < cooldown_until:
            raise Conflict(f"You had this lead before; you may claim it again after {cooldown_until:%Y-%m-%d %H:%M} UTC.",
                           errors=[{"field": "lead", "reason": "previous owner cooling down"}])
        claims = await uow.roster.claims_since(rep_id, now - timedelta(days=1))
        if rules.claims_per_day is not None and len(claims) >= rules.claims_per_day:
            raise Conflict(f"You have claimed {len(claims)} leads in the last 24 hours (limit {rules.claims_per_day}).",
                           errors=[{"field": "lead", "reason": "daily claim limit reached"}])
        if claims and rules.min_interval and now - claims[-1] < rules.min_interval:
            raise Conflict("Claims must be at least "
                           f"{int(rules.min_interval.total_seconds())} s apart.",
                           errors=[{"field": "lead", "reason": "claimed too recently"}])
        await uow.roster.add_claim(rep_id, lead_id, now)
        await reassign(uow, policy, version, lead, rep_id, now, reason="claimed",
                       why=f"claimed from the pool by {rep_id}", by=rep_id)
    async with store.read() as uow:
        return await found(uow, lead_id)


def in_reach_of_pool(policy: Policy, rep_id: str, lead: LeadRecord) -> bool:
    """A pool lead belongs to its last team; a lead that never had one is open to every rep."""
    return lead.team is None or policy.rep(rep_id).team == lead.team
