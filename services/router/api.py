"""Routes that read and act on routed leads: the lead as we know it, with why it went where."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

import orjson
from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from leadrelay.services.router.assignment import reassign, today
from leadrelay.services.router.clocks import owner_calendar
from leadrelay.services.router.sla import time_to_first_touch, which_clocks_stop
from leadrelay.shared.clock import as_utc
from leadrelay.shared.events import Envelope, LeadActivity
from leadrelay.shared.policy import Policy, PolicyError, load_policy
from leadrelay.shared.ports import UnitOfWork
from leadrelay.shared.problems import Conflict, Forbidden, InvalidField, NotFound, UnsupportedMediaType
from leadrelay.shared.runtime import Runtime
from leadrelay.shared.security import Principal
from leadrelay.shared.web.deps import PrincipalDep, RuntimeDep


def team_reps(policy: Policy | None, manager_id: str | None) -> set[str]:
    if policy is None or manager_id is None:
        return set()
    teams = {team.name for team in policy.teams if team.manager == manager_id}
    return {rep.id for rep in policy.reps if rep.team in teams}


async def can_see(uow: UnitOfWork, principal: Principal, lead: Any) -> bool:
    """A lead outside the caller's reach is answered 404, so its existence does not leak."""
    match principal.role:
        case "admin":
            return True
        case "source":
            return lead.source == principal.name
        case "rep":
            return lead.owner is not None and lead.owner == principal.rep_id
        case "manager":
            current = await uow.current_policy()
            return lead.owner in team_reps(current[1] if current else None, principal.rep_id) or (
                lead.owner is None and current is not None)
    return False


def iso(value: Any) -> str | None:
    value = as_utc(value)
    return value.isoformat() if value else None


async def lead_view(uow: UnitOfWork, lead: Any) -> dict[str, Any]:
    decisions = await uow.decisions(lead.lead_id)
    deliveries = await uow.deliveries_for(lead.lead_id)
    history = await uow.history(lead.lead_id)
    clocks = await uow.clocks_for(lead.lead_id)
    return {
        "lead_id": lead.lead_id,
        "status": lead.state,
        "source": lead.source,
        "received_at": iso(lead.received_at),
        "contact": lead.contact,
        "person_id": lead.person_id,
        "duplicate_of": lead.duplicate_of,
        "score": lead.score,
        "grade": lead.grade,
        "score_reasons": lead.reasons or [],
        "owner": lead.owner,
        "team": lead.team,
        "queue": lead.queue,
        "assigned_at": iso(lead.assigned_at),
        "policy_version": lead.policy_version,
        "decision": dict(decisions[-1].explanation, decided_at=iso(decisions[-1].decided_at)) if decisions else None,
        "decisions": [dict(d.explanation, decided_at=iso(d.decided_at)) for d in decisions],
        "sla_clocks": [
            {"clock": c.clock, "step": c.step, "due_at": iso(c.due_at), "state": c.state, "fired_at": iso(c.fired_at)}
            for c in clocks
        ],
        "notifications": [
            {"recipient": d.recipient, "platform": d.platform, "kind": d.kind, "state": d.state,
             "attempts": d.attempts, "sent_at": iso(d.sent_at), "last_error": d.last_error}
            for d in deliveries
        ],
        # The entry's own time and kind win over same-named keys in its detail.
        "history": [{"at": iso(h.at), "kind": h.kind, **{k: v for k, v in h.detail.items() if k not in ("at", "kind")}}
                    for h in history],
    }


def leads_router() -> APIRouter:
    router = APIRouter(tags=["leads"])

    @router.get("/v1/leads/{lead_id}")
    async def read_lead(lead_id: str, runtime: RuntimeDep, principal: PrincipalDep) -> dict[str, Any]:
        """The lead as we know it: score, owner, the routing decision and why, SLA clocks, history."""
        async with runtime.store.read() as uow:
            lead = await uow.lead(lead_id)
            if lead is None or not await can_see(uow, principal, lead):
                raise NotFound(f"No lead {lead_id} that you can see.")
            return await lead_view(uow, lead)

    return router


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
    current = await uow.current_policy()
    if current is None:
        raise Conflict("No routing policy has been applied yet.")
    return current


def actor_of(principal: Principal) -> str:
    return principal.rep_id or principal.role


async def record_activity(runtime: Runtime, principal: Principal, lead_id: str, body: ActivityIn) -> dict[str, Any]:
    now = runtime.clock()
    observe: list[Any] = []
    async with runtime.store.transaction() as uow:
        lead = await uow.lead(lead_id, lock=True)
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
            await uow.cancel_clocks(lead_id, sorted(which_clocks_stop(body.action) | {"offer"}))
            values: dict[str, Any] = {"state": body.action}
            if body.action == "accepted":
                values["accepted_at"] = now
            elif body.action == "contacted":
                values["contacted_at"] = now
                assigned_at = as_utc(lead.assigned_at)
                if assigned_at is not None:
                    rep = policy.rep(lead.owner) if lead.owner and policy.has_rep(lead.owner) else None
                    waited = time_to_first_touch(assigned_at, now, owner_calendar(policy, rep))
                    observe.append(lambda: runtime.metrics.time_to_first_touch.observe(waited.total_seconds()))
            else:
                values["closed_at"] = now
                if lead.owner:
                    await uow.adjust_rep_load(lead.owner, today=today(policy, now), open_delta=-1,
                                              converted=int(body.action == "converted"),
                                              lost=int(body.action == "lost"))
                source, outcome = lead.source, body.action
                observe.append(lambda: runtime.metrics.conversions.labels(outcome, source).inc())
            await uow.update_lead(lead_id, **values)
            await uow.add_history(lead_id, body.action, {"by": actor_of(principal), "reason": body.reason}, at=now)
        activity = LeadActivity(lead_id=lead_id, actor=actor_of(principal), action=body.action, reason=body.reason,
                                to_rep=body.to_rep, at=now)
        await uow.emit(Envelope.wrap(activity, source="leadrelay/api", subject=lead_id, key=lead.identity_key,
                                     correlation_id=lead.correlation_id, time=now))
        action = body.action
        uow.after_commit(lambda: runtime.metrics.activities.labels(action).inc())
        for callback in observe:
            uow.after_commit(callback)
    async with runtime.store.read() as uow:
        return await lead_view(uow, await uow.lead(lead_id))


def rep_of(principal: Principal) -> str:
    if principal.role != "rep" or not principal.rep_id:
        raise Forbidden("Only a rep can claim from the pool.", errors=[{"field": "Authorization", "reason": "not a rep"}])
    return principal.rep_id


async def claim_from_pool(runtime: Runtime, principal: Principal, lead_id: str) -> dict[str, Any]:
    rep_id = rep_of(principal)
    now = runtime.clock()
    async with runtime.store.transaction() as uow:
        # The row lock makes concurrent claims line up: the first wins, the rest see it taken.
        lead = await uow.lead(lead_id, lock=True)
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
        claims = await uow.claims_since(rep_id, now - timedelta(days=1))
        if rules.claims_per_day is not None and len(claims) >= rules.claims_per_day:
            raise Conflict(f"You have claimed {len(claims)} leads in the last 24 hours (limit {rules.claims_per_day}).",
                           errors=[{"field": "lead", "reason": "daily claim limit reached"}])
        if claims and rules.min_interval and now - claims[-1] < rules.min_interval:
            raise Conflict("Claims must be at least "
                           f"{int(rules.min_interval.total_seconds())} s apart.",
                           errors=[{"field": "lead", "reason": "claimed too recently"}])
        await uow.add_claim(rep_id, lead_id, now)
        await reassign(uow, policy, version, lead, rep_id, now, reason="claimed",
                       why=f"claimed from the pool by {rep_id}", by=rep_id)
    async with runtime.store.read() as uow:
        return await lead_view(uow, await uow.lead(lead_id))


def in_reach_of_pool(policy: Policy, rep_id: str, lead: Any) -> bool:
    """A pool lead belongs to its last team; a lead that never had one is open to every rep."""
    return lead.team is None or policy.rep(rep_id).team == lead.team


def summary(lead: Any) -> dict[str, Any]:
    contact = lead.contact or {}
    return {"lead_id": lead.lead_id, "status": lead.state, "grade": lead.grade, "score": lead.score,
            "source": lead.source, "owner": lead.owner, "team": lead.team, "queue": lead.queue,
            "name": contact.get("name"), "company": contact.get("company"),
            "received_at": iso(lead.received_at), "assigned_at": iso(lead.assigned_at)}


def work_router() -> APIRouter:
    router = APIRouter(tags=["work"])

    @router.post("/v1/leads/{lead_id}/activity")
    async def post_activity(lead_id: str, body: ActivityIn, runtime: RuntimeDep,
                            principal: PrincipalDep) -> dict[str, Any]:
        """Record a rep's action (accepted, contacted, converted, lost) or a manager's reassignment."""
        return await record_activity(runtime, principal, lead_id, body)

    @router.get("/v1/me/leads")
    async def my_leads(runtime: RuntimeDep, principal: PrincipalDep,
                       status: str | None = None, limit: int = Query(default=100, ge=1, le=1000)) -> dict[str, Any]:
        """A rep's own leads; a manager's team's; an admin's, all."""
        async with runtime.store.read() as uow:
            if principal.role == "rep":
                leads = await uow.leads_where(owner=principal.rep_id or "", state=status, limit=limit)
            elif principal.role == "manager":
                current = await uow.current_policy()
                reps = sorted(team_reps(current[1] if current else None, principal.rep_id))
                leads = await uow.leads_where(owners=reps, state=status, limit=limit)
            elif principal.role == "admin":
                leads = await uow.leads_where(state=status, limit=limit)
            else:
                raise Forbidden("Sources read leads one by one at /v1/leads/{id}.")
        return {"leads": [summary(lead) for lead in leads]}

    @router.get("/v1/pool")
    async def read_pool(runtime: RuntimeDep, principal: PrincipalDep,
                        limit: int = Query(default=100, ge=1, le=1000)) -> dict[str, Any]:
        """The team pool (公海): recycled and unassigned leads you may claim."""
        if principal.role == "source":
            raise Forbidden("The pool is for reps and managers.")
        async with runtime.store.read() as uow:
            current = await uow.current_policy()
            leads = [*await uow.leads_where(state="pool", limit=limit), *await uow.leads_where(state="queued", limit=limit)]
        if principal.role == "rep":
            policy = current[1] if current else None
            leads = [lead for lead in leads if policy and policy.has_rep(principal.rep_id or "")
                     and in_reach_of_pool(policy, principal.rep_id or "", lead)]
        return {"leads": [summary(lead) for lead in leads[:limit]]}

    @router.post("/v1/pool/{lead_id}/claim")
    async def claim(lead_id: str, runtime: RuntimeDep, principal: PrincipalDep) -> dict[str, Any]:
        """Claim a pool lead: first come, first served, within the policy's claim limits."""
        return await claim_from_pool(runtime, principal, lead_id)

    return router


class CreditIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    delta: int = Field(ge=-10, le=10, description="Leads to give (+) or take (-) from the rep's fair share.")
    reason: str = Field(min_length=3, max_length=500)
    lead_id: str | None = None


def require_role(principal: Principal, *roles: str) -> None:
    if principal.role not in roles:
        raise Forbidden(f"This needs a {' or '.join(roles)} token.",
                        errors=[{"field": "Authorization", "reason": f"role {principal.role} not allowed"}])


async def policy_body(request: Request) -> str:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    raw = await request.body()
    if content_type in ("application/yaml", "application/x-yaml", "text/yaml", "text/plain"):
        return raw.decode("utf-8")
    if content_type == "application/json":
        try:
            document = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise InvalidField("The body is not valid JSON.", errors=[{"field": "body", "reason": "invalid JSON"}]
                               ) from None
        if not isinstance(document, dict) or not isinstance(document.get("document"), str):
            raise InvalidField("Send {\"document\": \"<policy YAML>\"}.",
                               errors=[{"field": "document", "reason": "missing"}])
        return document["document"]
    raise UnsupportedMediaType("Send the policy as application/yaml (or JSON {\"document\": …}).",
                               errors=[{"field": "Content-Type", "reason": "must be application/yaml"}])


def admin_router() -> APIRouter:
    router = APIRouter(tags=["policy"])

    @router.get("/v1/policy")
    async def read_policy(runtime: RuntimeDep, principal: PrincipalDep) -> dict[str, Any]:
        """The current policy version and its document."""
        require_role(principal, "admin", "manager")
        async with runtime.store.read() as uow:
            current = await uow.policy_document()
        if current is None:
            raise NotFound("No policy has been applied yet.")
        return {"version": current[0], "document": current[1]}

    @router.put("/v1/policy")
    async def put_policy(request: Request, runtime: RuntimeDep, principal: PrincipalDep) -> dict[str, Any]:
        """Store a new policy version (hot-reloaded: new leads use it, in-flight ones finish on theirs)."""
        require_role(principal, "admin")
        text = await policy_body(request)
        try:
            load_policy(text)
        except PolicyError as exc:
            raise InvalidField(f"Invalid policy: {exc.problems[0]}",
                               errors=[{"field": p.split(":", 1)[0], "reason": p.split(":", 1)[-1].strip()}
                                       for p in exc.problems]) from None
        async with runtime.store.transaction() as uow:
            version, created = await uow.store_policy(text, actor_of(principal))
        return {"version": version, "created": created}

    @router.post("/v1/reps/{rep_id}/credits", status_code=201)
    async def grant_credit(rep_id: str, body: CreditIn, runtime: RuntimeDep, principal: PrincipalDep) -> dict[str, Any]:
        """Give or take leads from a rep's fair share (a junk lead, a no-show); the ledger is cited in decisions."""
        require_role(principal, "admin", "manager")
        async with runtime.store.transaction() as uow:
            _, policy = await current_policy(uow)
            if not policy.has_rep(rep_id) or (
                    principal.role == "manager" and rep_id not in team_reps(policy, principal.rep_id)):
                raise NotFound(f"No rep {rep_id} on your team.")
            await uow.add_credit(rep_id, body.delta, body.reason, actor_of(principal), body.lead_id)
            balance = (await uow.credits()).get(rep_id, 0)
        return {"rep": rep_id, "balance": balance}

    @router.get("/v1/reps/{rep_id}/credits")
    async def read_credits(rep_id: str, runtime: RuntimeDep, principal: PrincipalDep) -> dict[str, Any]:
        """A rep's fairness-ledger balance and entries (a rep may read their own)."""
        if principal.role == "rep" and principal.rep_id != rep_id:
            raise NotFound(f"No rep {rep_id} that you can see.")
        require_role(principal, "admin", "manager", "rep")
        async with runtime.store.read() as uow:
            entries = await uow.ledger(rep_id)
        return {"rep": rep_id, "balance": sum(e.delta for e in entries),
                "entries": [{"delta": e.delta, "reason": e.reason, "by": e.by, "lead_id": e.lead_id, "at": iso(e.at)}
                            for e in entries]}

    return router
