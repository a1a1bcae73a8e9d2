"""Routes that read and act on routed leads: the lead as we know it, with why it went where."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from shared.adapters.sql_store import UnitOfWork, as_utc
from shared.http import PrincipalDep, RuntimeDep
from shared.policy import Policy
from shared.problems import NotFound
from shared.security import Principal


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
    clocks = await uow.clocks_for(lead.lead_id) if hasattr(uow, "clocks_for") else []
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
        "history": [{"at": iso(h.at), "kind": h.kind, **h.detail} for h in history],
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
