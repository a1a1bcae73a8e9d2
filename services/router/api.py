"""The router's HTTP routes: a lead and why it went where, reps' and managers' work on leads,
the pool, the policy and the fairness ledger. Thin: each route checks who asks, then calls a use
case (``work``) or a view (``views``)."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from leadrelay.services.router.views import iso, lead_view, summary
from leadrelay.services.router.work import (
    ActivityIn,
    actor_of,
    can_see,
    claim_from_pool,
    current_policy,
    in_reach_of_pool,
    record_activity,
    team_reps,
)
from leadrelay.shared.policy import PolicyError, load_policy
from leadrelay.shared.ports import LeadRecord, Store
from leadrelay.shared.problems import Forbidden, InvalidField, NotFound, UnsupportedMediaType
from leadrelay.shared.security import Principal
from leadrelay.shared.web.deps import ClockDep, MetricsDep, PrincipalDep, StoreDep


async def view_of(store: Store, lead: LeadRecord) -> dict[str, Any]:
    async with store.read() as uow:
        return await lead_view(uow, lead)


def leads_router() -> APIRouter:
    router = APIRouter(tags=["leads"])

    @router.get("/v1/leads/{lead_id}")
    async def read_lead(lead_id: str, store: StoreDep, principal: PrincipalDep) -> dict[str, Any]:
        """The lead as we know it: score, owner, the routing decision and why, SLA clocks, history."""
        async with store.read() as uow:
            lead = await uow.leads.get(lead_id)
            if lead is None or not await can_see(uow, principal, lead):
                raise NotFound(f"No lead {lead_id} that you can see.")
            return await lead_view(uow, lead)

    return router


def work_router() -> APIRouter:
    router = APIRouter(tags=["work"])

    @router.post("/v1/leads/{lead_id}/activity")
    async def post_activity(lead_id: str, body: ActivityIn, store: StoreDep, clock: ClockDep, metrics: MetricsDep,
                            principal: PrincipalDep) -> dict[str, Any]:
        """Record a rep's action (accepted, contacted, converted, lost) or a manager's reassignment."""
        return await view_of(store, await record_activity(store, clock, metrics, principal, lead_id, body))

    @router.get("/v1/me/leads")
    async def my_leads(store: StoreDep, principal: PrincipalDep,
                       status: str | None = None, limit: int = Query(default=100, ge=1, le=1000)) -> dict[str, Any]:
        """A rep's own leads; a manager's team's; an admin's, all."""
        async with store.read() as uow:
            if principal.role == "rep":
                leads = await uow.leads.where(owner=principal.rep_id or "", state=status, limit=limit)
            elif principal.role == "manager":
                current = await uow.policies.current()
                reps = sorted(team_reps(current[1] if current else None, principal.rep_id))
                leads = await uow.leads.where(owners=reps, state=status, limit=limit)
            elif principal.role == "admin":
                leads = await uow.leads.where(state=status, limit=limit)
            else:
                raise Forbidden("Sources read leads one by one at /v1/leads/{id}.")
        return {"leads": [summary(lead) for lead in leads]}

    @router.get("/v1/pool")
    async def read_pool(store: StoreDep, principal: PrincipalDep,
                        limit: int = Query(default=100, ge=1, le=1000)) -> dict[str, Any]:
        """The team pool (公海): recycled and unassigned leads you may claim."""
        if principal.role == "source":
            raise Forbidden("The pool is for reps and managers.")
        async with store.read() as uow:
            current = await uow.policies.current()
            leads = [*await uow.leads.where(state="pool", limit=limit), *await uow.leads.where(state="queued", limit=limit)]
        if principal.role == "rep":
            policy = current[1] if current else None
            leads = [lead for lead in leads if policy and policy.has_rep(principal.rep_id or "")
                     and in_reach_of_pool(policy, principal.rep_id or "", lead)]
        return {"leads": [summary(lead) for lead in leads[:limit]]}

    @router.post("/v1/pool/{lead_id}/claim")
    async def claim(lead_id: str, store: StoreDep, clock: ClockDep, principal: PrincipalDep) -> dict[str, Any]:
        """Claim a pool lead: first come, first served, within the policy's claim limits."""
        return await view_of(store, await claim_from_pool(store, clock, principal, lead_id))

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
    async def read_policy(store: StoreDep, principal: PrincipalDep) -> dict[str, Any]:
        """The current policy version and its document."""
        require_role(principal, "admin", "manager")
        async with store.read() as uow:
            current = await uow.policies.document()
        if current is None:
            raise NotFound("No policy has been applied yet.")
        return {"version": current[0], "document": current[1]}

    @router.put("/v1/policy")
    async def put_policy(request: Request, store: StoreDep, principal: PrincipalDep) -> dict[str, Any]:
        """Store a new policy version (hot-reloaded: new leads use it, in-flight ones finish on theirs)."""
        require_role(principal, "admin")
        text = await policy_body(request)
        try:
            load_policy(text)
        except PolicyError as exc:
            raise InvalidField(f"Invalid policy: {exc.problems[0]}",
                               errors=[{"field": p.split(":", 1)[0], "reason": p.split(":", 1)[-1].strip()}
                                       for p in exc.problems]) from None
        async with store.transaction() as uow:
            version, created = await uow.policies.store(text, actor_of(principal))
        return {"version": version, "created": created}

    @router.post("/v1/reps/{rep_id}/credits", status_code=201)
    async def grant_credit(rep_id: str, body: CreditIn, store: StoreDep, principal: PrincipalDep) -> dict[str, Any]:
        """Give or take leads from a rep's fair share (a junk lead, a no-show); the ledger is cited in decisions."""
        require_role(principal, "admin", "manager")
        async with store.transaction() as uow:
            _, policy = await current_policy(uow)
            if not policy.has_rep(rep_id) or (
                    principal.role == "manager" and rep_id not in team_reps(policy, principal.rep_id)):
                raise NotFound(f"No rep {rep_id} on your team.")
            await uow.roster.add_credit(rep_id, body.delta, body.reason, actor_of(principal), body.lead_id)
            balance = (await uow.roster.credits()).get(rep_id, 0)
        return {"rep": rep_id, "balance": balance}

    @router.get("/v1/reps/{rep_id}/credits")
    async def read_credits(rep_id: str, store: StoreDep, principal: PrincipalDep) -> dict[str, Any]:
        """A rep's fairness-ledger balance and entries (a rep may read their own)."""
        if principal.role == "rep" and principal.rep_id != rep_id:
            raise NotFound(f"No rep {rep_id} that you can see.")
        require_role(principal, "admin", "manager", "rep")
        async with store.read() as uow:
            entries = await uow.roster.ledger(rep_id)
        return {"rep": rep_id, "balance": sum(e.delta for e in entries),
                "entries": [{"delta": e.delta, "reason": e.reason, "by": e.by, "lead_id": e.lead_id, "at": iso(e.at)}
                            for e in entries]}

    return router
