"""What reps and managers do with routed leads, as use cases: act on a lead, claim from the
pool, and who may see what. The HTTP routes and the chat actions call these; they take the
ports they use, never the HTTP request."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

from leadrelay.services.router.assignment import (
    owners_team,
    protection_for,
    queue_team,
    reassign,
    record_collision,
    summary_of,
    today,
)
from leadrelay.services.router.clocks import owner_calendar
from leadrelay.services.router.sla import time_to_first_touch, which_clocks_stop
from leadrelay.shared.clock import Clock, as_utc
from leadrelay.shared.events import Envelope, LeadActivity
from leadrelay.shared.metrics import Metrics
from leadrelay.shared.policy import Policy
from leadrelay.shared.ports import LeadRecord, Store, UnitOfWork
from leadrelay.shared.problems import Conflict, Forbidden, InvalidField, NotFound
from leadrelay.shared.security import Principal

# Who may reach what (docs: README "HTTP API"). A source reads the leads it posted; a rep
# sees and acts on their own leads; a manager on their team's, owned or waiting in the team's
# queue or pool; an admin on everything. A lead outside the caller's reach answers 404, so its
# existence does not leak; 403 answers only for what the caller's role may never do, whatever
# the lead, so it says nothing about a lead either.


def managed_teams(policy: Policy | None, manager_id: str | None) -> set[str]:
    if policy is None or manager_id is None:
        return set()
    return {team.name for team in policy.teams if team.manager == manager_id}


def team_reps(policy: Policy | None, manager_id: str | None) -> set[str]:
    teams = managed_teams(policy, manager_id)
    return {rep.id for rep in policy.reps if rep.team in teams} if policy is not None else set()


def lead_team(policy: Policy, lead: LeadRecord) -> str | None:
    """The team a lead belongs to: its owner's; a queued or pooled lead keeps the team it was
    parked or recycled for (else the team whose fallback queue holds it). None: it never had one."""
    team = owners_team(policy, lead)
    if team is None and lead.owner is None:
        return queue_team(policy, lead.queue)
    return team


def in_managers_reach(policy: Policy, manager_id: str | None, lead: LeadRecord) -> bool:
    """The manager's teams' leads; a waiting lead that never had a team, to the managers the
    policy's ``fallback.notify`` tells about it."""
    team = lead_team(policy, lead)
    if team is not None:
        return team in managed_teams(policy, manager_id)
    return lead.owner is None and manager_id is not None and manager_id in policy.fallback.notify


async def can_see(uow: UnitOfWork, principal: Principal, lead: LeadRecord) -> bool:
    """A lead outside the caller's reach is answered 404, so its existence does not leak."""
    match principal.role:
        case "admin" | "integration":
            return True
        case "source":
            return lead.source == principal.name
        case "rep":
            return lead.owner is not None and lead.owner == principal.rep_id
        case "manager":
            current = await uow.policies.current()
            return current is not None and in_managers_reach(current[1], principal.rep_id, lead)
    return False


async def found(uow: UnitOfWork, lead_id: str) -> LeadRecord:
    lead = await uow.leads.get(lead_id)
    if lead is None:
        raise NotFound(f"No lead {lead_id}.")
    return lead


class ActivityIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["accepted", "contacted", "converted", "lost", "reassign", "not_mine"]
    reason: str | None = Field(default=None, max_length=500)
    to_rep: str | None = Field(default=None, max_length=100)


# Which states an action may start from; anything else is a 409 naming the current state.
ALLOWED_FROM = {
    "accepted": ("offered", "assigned"),
    "contacted": ("offered", "assigned", "accepted"),
    "converted": ("offered", "assigned", "accepted", "contacted"),
    "lost": ("offered", "assigned", "accepted", "contacted"),
    "reassign": ("offered", "assigned", "accepted", "contacted", "queued", "pool", "held"),
    "not_mine": (),  # handed back by chat_actions.hand_back, never recorded here
}


async def current_policy(uow: UnitOfWork) -> tuple[int, Policy]:
    current = await uow.policies.current()
    if current is None:
        raise Conflict("No routing policy has been applied yet.")
    return current


def actor_of(principal: Principal) -> str:
    if principal.role == "integration":
        return f"integration:{principal.name}"
    return principal.rep_id or principal.role


async def record_activity(store: Store, clock: Clock, metrics: Metrics, principal: Principal, lead_id: str,
                          body: ActivityIn, via: Literal["api", "slack", "link", "console", "crm"] = "api") -> LeadRecord:
    """A rep's action on their lead, or a manager's reassignment: the lead's state, its clocks,
    the owner's load, the history and a ``lead.activity`` event, in one transaction. The HTTP
    route and the chat actions both call this. Returns the lead as it is afterwards."""
    # What the role may never do is refused before the lead is looked up (403 says nothing about it).
    if principal.role not in ("rep", "manager", "admin", "integration"):
        raise Forbidden("Only reps, managers and admins act on leads.",
                        errors=[{"field": "Authorization", "reason": f"role {principal.role} not allowed"}])
    if body.action == "reassign" and principal.role not in ("manager", "admin", "integration"):
        raise Forbidden("Only a manager or an admin can reassign a lead.",
                        errors=[{"field": "action", "reason": "reassign needs a manager"}])
    now = clock()
    observe: list[Any] = []
    async with store.transaction() as uow:
        lead = await uow.leads.get(lead_id, lock=True)
        if lead is None or not await can_see(uow, principal, lead):
            raise NotFound(f"No lead {lead_id} that you can see.")
        version, policy = await current_policy(uow)
        if lead.state not in ALLOWED_FROM[body.action]:
            raise Conflict(f"A lead that is '{lead.state}' cannot be marked '{body.action}'.",
                           errors=[{"field": "action", "reason": f"not allowed from state {lead.state}"}])
        if body.action == "reassign":
            to_rep = reassign_target(policy, principal, body.to_rep)
            await reassign(uow, policy, version, lead, to_rep, now, reason="reassigned",
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
                    await uow.roster.lock([lead.owner])
                    await uow.roster.adjust_load(lead.owner, today=today(policy, now), open_delta=-1,
                                              converted=int(body.action == "converted"),
                                              lost=int(body.action == "lost"))
                source, outcome = lead.source, body.action
                observe.append(lambda: metrics.conversions.labels(outcome, source).inc())
            await uow.leads.update(lead_id, **values)
            await uow.leads.add_history(lead_id, body.action, {"by": actor_of(principal), "reason": body.reason,
                                                               "via": via}, at=now)
        activity = LeadActivity(lead_id=lead_id, actor=actor_of(principal), action=body.action, reason=body.reason,
                                to_rep=body.to_rep, at=now, via=via, lead=summary_of(lead))
        await uow.outbox.emit(Envelope.wrap(activity, source="leadrelay/api", subject=lead_id, key=lead.identity_key,
                                     correlation_id=lead.correlation_id, time=now))
        action = body.action
        uow.after_commit(lambda: metrics.activities.labels(action).inc())
        for callback in observe:
            uow.after_commit(callback)
    async with store.read() as uow:
        return await found(uow, lead_id)


def reassign_target(policy: Policy, principal: Principal, to_rep: str | None) -> str:
    """An admin reassigns to any rep of the policy; a manager only to a rep of their own team
    (an unknown rep and another team's read the same, so other teams' rosters do not leak)."""
    if principal.role == "manager":
        if not to_rep or to_rep not in team_reps(policy, principal.rep_id):
            raise InvalidField("to_rep must name a rep of your team.",
                               errors=[{"field": "to_rep", "reason": "not a rep of your team"}])
    elif not to_rep or not policy.has_rep(to_rep):
        raise InvalidField("to_rep must name a rep of the current policy.",
                           errors=[{"field": "to_rep", "reason": "unknown rep"}])
    return to_rep


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
        # Refused, but the collision is written down (and both managers told) first: the
        # transaction commits it, and the 409 is raised after.
        refused = await refused_as_protected(uow, policy, lead, rep_id, now)
        if refused is None:
            await claim(uow, policy, version, lead, rep_id, now)
    if refused is not None:
        raise refused
    async with store.read() as uow:
        return await found(uow, lead_id)


async def refused_as_protected(uow: UnitOfWork, policy: Policy, lead: LeadRecord, rep_id: str,
                               now: datetime) -> Conflict | None:
    """The 409 for a claim of a lead whose person is protected for another rep (保护期), after
    recording the collision (once per rep and period: a rep clicking Claim again tells nobody
    twice); None when the rep may claim it."""
    protection = await protection_for(uow, policy, lead.person_id, now)
    if protection is None or protection.rep == rep_id:
        return None
    said = protection.explain(ZoneInfo(policy.timezone))
    told = any(entry.kind == "collision" and entry.detail.get("other_rep") == rep_id
               and (entry.detail.get("protection") or {}).get("since") == protection.since.isoformat()
               for entry in await uow.leads.history(lead.lead_id))
    if not told:
        await record_collision(uow, policy, summary_of(lead), lead_id=lead.lead_id, key=lead.identity_key,
                               correlation_id=lead.correlation_id, protection=protection, other_rep=rep_id,
                               kind="claim", rule=None, at=now)
    return Conflict(f"This person is {said}; their leads are not yours to claim until then.",
                    errors=[{"field": "lead", "reason": "person protected for another rep"}])


async def claim(uow: UnitOfWork, policy: Policy, version: int, lead: LeadRecord, rep_id: str, now: datetime) -> None:
    """The claim itself, once the lead is known to be claimable: the pool's limits, then the move."""
    lead_id = lead.lead_id
    rules = policy.pool
    cooldown_until = (as_utc(lead.recycled_at) or now) + rules.previous_owner_cooldown
    if lead.previous_owner == rep_id and now < cooldown_until:
        raise Conflict(f"You had this lead before; you may claim it again after {cooldown_until:%Y-%m-%d %H:%M} UTC.",
                       errors=[{"field": "lead", "reason": "previous owner cooling down"}])
    # The claimant's row lines up their own claims (the daily limit holds across replicas);
    # the owner's, if any, is released by the same move. Both at once, in the lock order.
    await uow.roster.lock([rep for rep in (rep_id, lead.owner) if rep])
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


# The store narrows the pool to the caller's teams (and leads with no team stored, which a fallback
# queue may give one); ``sees_in_pool`` then decides exactly. This many of each state are read.
POOL_WINDOW = 1000


def pool_teams(policy: Policy | None, principal: Principal) -> list[str | None] | None:
    """The stored teams of the waiting leads the caller may see (None: all of them)."""
    if principal.role == "admin":
        return None
    if policy is None:
        return []
    if principal.role == "rep":
        rep_id = principal.rep_id or ""
        return [policy.rep(rep_id).team, None] if policy.has_rep(rep_id) else []
    return [*sorted(managed_teams(policy, principal.rep_id)), None] if principal.role == "manager" else []


async def pool_for(uow: UnitOfWork, principal: Principal, limit: int) -> list[LeadRecord]:
    """What ``GET /v1/pool`` lists for the caller, newest first."""
    window = limit if principal.role == "admin" else max(limit, POOL_WINDOW)
    current = await uow.policies.current()
    policy = current[1] if current else None
    teams = pool_teams(policy, principal)
    leads = [*await uow.leads.where(state="pool", teams=teams, limit=window),
             *await uow.leads.where(state="queued", teams=teams, limit=window)]
    visible = [lead for lead in leads if sees_in_pool(policy, principal, lead)]
    visible.sort(key=lambda lead: as_utc(lead.received_at) or datetime.min.replace(tzinfo=UTC), reverse=True)
    return visible[:limit]


def sees_in_pool(policy: Policy | None, principal: Principal, lead: LeadRecord) -> bool:
    """Whether ``GET /v1/pool`` lists the lead: a rep, what they may claim; a manager, their
    teams' waiting leads; an admin, all."""
    if principal.role == "admin":
        return True
    if policy is None:
        return False
    if principal.role == "rep":
        return in_reach_of_pool(policy, principal.rep_id or "", lead)
    return principal.role == "manager" and in_managers_reach(policy, principal.rep_id, lead)


def in_reach_of_pool(policy: Policy, rep_id: str, lead: LeadRecord) -> bool:
    """A queued or pooled lead keeps its team: only that team's reps may claim it. A lead that
    never had a team (no rule applied, and no team owns the fallback queue) is open to every rep."""
    if not policy.has_rep(rep_id):
        return False
    team = lead_team(policy, lead)
    return team is None or policy.rep(rep_id).team == team
