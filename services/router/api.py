"""The router's HTTP routes: a lead and why it went where, reps' and managers' work on leads,
the pool, the policy and the fairness ledger. Thin: each route checks who asks, then calls a use
case (``work``) or a view (``views``)."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from leadrelay.services.router.chat_actions import hand_back
from leadrelay.services.router.views import iso, lead_view, masked_paths, masked_policy, summary
from leadrelay.services.router.work import (
    ActivityIn,
    actor_of,
    can_see,
    claim_from_pool,
    current_policy,
    pool_for,
    record_activity,
    team_reps,
)
from leadrelay.shared.policy import PolicyError, load_policy
from leadrelay.shared.ports import LeadRecord, Store
from leadrelay.shared.problems import Forbidden, InvalidField, NotFound
from leadrelay.shared.security import Principal
from leadrelay.shared.web.body_limit import body_limit
from leadrelay.shared.web.content_types import JSON, JsonBodyRoute, require_media_type
from leadrelay.shared.web.deps import ClockDep, MetricsDep, PrincipalDep, StoreDep
from leadrelay.shared.web.openapi import problems


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
    router = APIRouter(tags=["work"], route_class=JsonBodyRoute)  # a declared body comes as application/json

    @router.post("/v1/leads/{lead_id}/activity", responses=problems(
        409, s409="The lead's state does not allow this action, or no policy has been applied yet."))
    async def post_activity(lead_id: str, body: ActivityIn, store: StoreDep, clock: ClockDep, metrics: MetricsDep,
                            principal: PrincipalDep) -> dict[str, Any]:
        """Record a rep's action (accepted, contacted, converted, lost, not_mine with a reason) or a manager's
        reassignment."""
        if body.action == "not_mine":  # back to the team pool; the rep's manager hears of it
            return await view_of(store, await hand_back(store, clock, metrics, principal, lead_id, body.reason))
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
        """The team pool (公海): recycled and unassigned leads a rep may claim (their team's, and
        those that never had a team); a manager's, their teams' waiting leads; an admin's, all."""
        require_role(principal, "admin", "manager", "rep")
        async with store.read() as uow:
            leads = await pool_for(uow, principal, limit)
        return {"leads": [summary(lead) for lead in leads]}

    @router.post("/v1/pool/{lead_id}/claim", responses=problems(
        409, s409="Someone claimed it first, a claim limit or cooldown holds, or no policy has been applied yet."))
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


POLICY_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/plain", JSON)


async def policy_body(request: Request) -> str:
    """The policy YAML, sent as YAML or as JSON ``{"document": …}``, in UTF-8; raises 415 naming
    Content-Type for another type or charset, 422 naming the body when it is not UTF-8."""
    content_type = require_media_type(request.headers.get("content-type"), POLICY_TYPES)
    try:
        text = (await request.body()).decode("utf-8")  # at most max_policy_body_bytes (the app's body limit)
    except UnicodeDecodeError:
        raise InvalidField("The policy is not UTF-8 text.", errors=[{"field": "body", "reason": "not UTF-8"}]) from None
    if content_type != JSON:
        return text
    try:
        document = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise InvalidField("The body is not valid JSON.", errors=[{"field": "body", "reason": "invalid JSON"}]
                           ) from None
    if not isinstance(document, dict) or not isinstance(document.get("document"), str):
        raise InvalidField("Send {\"document\": \"<policy YAML>\"}.",
                           errors=[{"field": "document", "reason": "missing"}])
    return document["document"]


# The body ``policy_body`` reads itself (after the role check): YAML as text, or JSON wrapping it.
POLICY_BODY = {"requestBody": {"required": True, "description": "The policy document (YAML), in UTF-8.", "content": {
    **{media_type: {"schema": {"type": "string", "minLength": 1}}
       for media_type in POLICY_TYPES if media_type != JSON},
    JSON: {"schema": {"type": "object", "required": ["document"], "properties": {
        "document": {"type": "string", "description": "The policy YAML."}}}},
}}}


def admin_router() -> APIRouter:
    router = APIRouter(tags=["policy"], route_class=JsonBodyRoute)  # a declared body comes as application/json

    @router.get("/v1/policy")
    async def read_policy(store: StoreDep, principal: PrincipalDep) -> dict[str, Any]:
        """The current policy version and its document, chat webhook URLs and secrets masked (admins)."""
        require_role(principal, "admin")
        async with store.read() as uow:
            current = await uow.policies.document()
            policy = await uow.policies.get(current[0]) if current is not None else None
        if current is None or policy is None:
            raise NotFound("No policy has been applied yet.")
        return {"version": current[0], "document": masked_policy(current[1], policy)}

    @router.put("/v1/policy", openapi_extra=POLICY_BODY)
    @body_limit("max_policy_body_bytes")
    async def put_policy(request: Request, store: StoreDep, principal: PrincipalDep) -> dict[str, Any]:
        """Store a new policy version (hot-reloaded: new leads use it, in-flight ones finish on theirs)."""
        require_role(principal, "admin")
        text = await policy_body(request)
        try:
            policy = load_policy(text)
        except PolicyError as exc:
            raise InvalidField(f"Invalid policy: {exc.problems[0]}",
                               errors=[{"field": p.split(":", 1)[0], "reason": p.split(":", 1)[-1].strip()}
                                       for p in exc.problems]) from None
        except RecursionError:  # the YAML parser recurses: a document nested thousands of levels deep
            raise InvalidField("The policy is nested too deeply.",
                               errors=[{"field": "body", "reason": "nested too deeply"}]) from None
        async with store.read() as uow:
            current = await uow.policies.current()
        if masked := masked_paths(policy, current[1] if current else None):
            raise InvalidField(f"{masked[0]} is masked as GET /v1/policy shows it; send the real value.",
                               errors=[{"field": path, "reason": "masked value"} for path in masked])
        async with store.transaction() as uow:
            version, created = await uow.policies.store(text, actor_of(principal))
        return {"version": version, "created": created}

    @router.post("/v1/reps/{rep_id}/credits", status_code=201,
                 responses=problems(409, s409="No policy has been applied yet."))
    async def grant_credit(rep_id: str, body: CreditIn, store: StoreDep, principal: PrincipalDep) -> dict[str, Any]:
        """Give or take leads from a rep's fair share (a junk lead, a no-show); the ledger is cited in decisions."""
        require_role(principal, "admin", "manager")
        async with store.transaction() as uow:
            _, policy = await current_policy(uow)
            if not policy.has_rep(rep_id) or (
                    principal.role == "manager" and rep_id not in team_reps(policy, principal.rep_id)):
                raise NotFound(f"No rep {rep_id} on your team.")
            await uow.roster.lock([rep_id])  # the balance answered is the one routing reads next
            await uow.roster.add_credit(rep_id, body.delta, body.reason, actor_of(principal), body.lead_id)
            balance = (await uow.roster.credits([rep_id])).get(rep_id, 0)
        return {"rep": rep_id, "balance": balance}

    @router.get("/v1/reps/{rep_id}/credits")
    async def read_credits(rep_id: str, store: StoreDep, principal: PrincipalDep) -> dict[str, Any]:
        """A rep's fairness-ledger balance and entries (a rep may read their own; a manager, their team's)."""
        require_role(principal, "admin", "manager", "rep")
        async with store.read() as uow:
            if principal.role == "manager":
                current = await uow.policies.current()
                if rep_id not in team_reps(current[1] if current else None, principal.rep_id):
                    raise NotFound(f"No rep {rep_id} on your team.")
            elif principal.role == "rep" and principal.rep_id != rep_id:
                raise NotFound(f"No rep {rep_id} that you can see.")
            entries = await uow.roster.ledger(rep_id)
        return {"rep": rep_id, "balance": sum(e.delta for e in entries),
                "entries": [{"delta": e.delta, "reason": e.reason, "by": e.by, "lead_id": e.lead_id, "at": iso(e.at)}
                            for e in entries]}

    return router
