"""The pages a rep works from (a manager and an admin open the same lead page): my leads, the
lead page with its actions, the team pool with claim. Every action goes through the use case
the JSON API calls (``services/router/work.py``), with ``via="console"``, and every page
applies the API's access rules: a lead outside the viewer's reach is a 404, like a missing one."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from leadrelay.services.router.chat_actions import hand_back
from leadrelay.services.router.work import (
    ActivityIn,
    can_see,
    claim_from_pool,
    pool_for,
    record_activity,
    team_reps,
)
from leadrelay.shared.clock import as_utc
from leadrelay.shared.policy import Policy
from leadrelay.shared.ports import LeadRecord
from leadrelay.shared.problems import NotFound, Problem
from leadrelay.shared.shell.console.i18n import t
from leadrelay.shared.shell.console.leads import (
    OPEN_STATES,
    contact_rows,
    lead_label,
    lines_of,
    reason_lines,
    refusal_text,
    sla_of,
    work_order,
)
from leadrelay.shared.shell.console.render import not_found, render
from leadrelay.shared.shell.console.session import ConsoleUser, ConsoleUserDep, CsrfFormDep
from leadrelay.shared.web.deps import ClockDep, MetricsDep, StoreDep

# What a rep can do to their lead, from which states (the use case has the last word).
REP_ACTIONS = {
    "accepted": ("offered", "assigned"),
    "contacted": ("offered", "assigned", "accepted"),
    "converted": ("offered", "assigned", "accepted", "contacted"),
    "lost": ("offered", "assigned", "accepted", "contacted"),
    "not_mine": ("offered", "assigned", "accepted"),
}
REASSIGN_FROM = ("offered", "assigned", "accepted", "contacted", "queued", "pool", "held")
# What a redirect after an action may say it did (the address carries a code, nothing else).
DONE = ("accepted", "contacted", "converted", "lost", "not_mine", "reassign", "claimed", "credit")
LIST_LIMIT = 200


def rep_router() -> APIRouter:
    router = APIRouter()

    @router.get("/console/leads")
    async def my_leads(request: Request, user: ConsoleUserDep, store: StoreDep, clock: ClockDep,
                       done: str | None = None) -> Response:
        if user.role != "rep":
            return RedirectResponse("/console/team", status_code=303)
        async with store.read() as uow:
            leads = await uow.leads.where(owner=user.rep_id or "", limit=LIST_LIMIT)
            lines = sorted(await lines_of(uow, leads, clock()), key=work_order)
        return render(request, user, "leads.html", lines=lines, reasons=reason_lines,
                      flash=done_text(user, done))

    @router.get("/console/leads/{lead_id}")
    async def lead_page(request: Request, lead_id: str, user: ConsoleUserDep, store: StoreDep, clock: ClockDep,
                        done: str | None = None) -> HTMLResponse:
        return await show_lead(request, user, store, clock, lead_id, flash=done_text(user, done))

    @router.post("/console/leads/{lead_id}/act")
    async def act(request: Request, lead_id: str, user: ConsoleUserDep, _csrf: CsrfFormDep, store: StoreDep,
                  clock: ClockDep, metrics: MetricsDep, action: Annotated[str, Form(max_length=20)],
                  reason: Annotated[str, Form(max_length=500)] = "") -> Response:
        reason_given = reason.strip() or None
        try:
            if action == "not_mine":
                await hand_back(store, clock, metrics, user.principal, lead_id, reason_given, via="console")
                return RedirectResponse("/console/leads?done=not_mine", status_code=303)
            if action not in REP_ACTIONS:
                return await show_lead(request, user, store, clock, lead_id, status_code=422,
                                       error_text=f"{action!r}?")
            await record_activity(store, clock, metrics, user.principal, lead_id,
                                  ActivityIn(action=action, reason=reason_given), via="console")  # type: ignore[arg-type]
        except NotFound:
            return not_found(request, user)
        except Problem as problem:
            return await show_lead(request, user, store, clock, lead_id, status_code=problem.status, problem=problem)
        return RedirectResponse(f"/console/leads/{lead_id}?done={action}", status_code=303)

    @router.post("/console/leads/{lead_id}/reassign")
    async def reassign(request: Request, lead_id: str, user: ConsoleUserDep, _csrf: CsrfFormDep, store: StoreDep,
                       clock: ClockDep, metrics: MetricsDep, to_rep: Annotated[str, Form(max_length=100)] = "",
                       reason: Annotated[str, Form(max_length=500)] = "") -> Response:
        try:
            await record_activity(store, clock, metrics, user.principal, lead_id,
                                  ActivityIn(action="reassign", to_rep=to_rep or None, reason=reason.strip() or None),
                                  via="console")
        except NotFound:
            return not_found(request, user)
        except Problem as problem:
            return await show_lead(request, user, store, clock, lead_id, status_code=problem.status, problem=problem)
        async with store.read() as uow:
            lead = await uow.leads.get(lead_id)
            still_visible = lead is not None and await can_see(uow, user.principal, lead)
        return RedirectResponse(f"/console/leads/{lead_id}?done=reassign" if still_visible
                                else "/console/team?done=reassign", status_code=303)

    @router.get("/console/pool")
    async def pool(request: Request, user: ConsoleUserDep, store: StoreDep, clock: ClockDep,
                   done: str | None = None) -> HTMLResponse:
        return await show_pool(request, user, store, clock, flash=done_text(user, done))

    @router.post("/console/pool/{lead_id}/claim")
    async def claim(request: Request, lead_id: str, user: ConsoleUserDep, _csrf: CsrfFormDep, store: StoreDep,
                    clock: ClockDep) -> Response:
        try:
            await claim_from_pool(store, clock, user.principal, lead_id)
        except NotFound:
            return await show_pool(request, user, store, clock, status_code=404,
                                   error_text=render_text(user, "refusal.not_in_pool"))
        except Problem as problem:
            async with store.read() as uow:
                lead = await uow.leads.get(lead_id)
                current = await uow.policies.current()
            text = refusal_text(user.lang, problem, current[1] if current else None, lead, user.tz)
            return await show_pool(request, user, store, clock, status_code=problem.status, error_text=text)
        return RedirectResponse(f"/console/leads/{lead_id}?done=claimed", status_code=303)

    return router


def render_text(user: ConsoleUser, key: str, **fmt: object) -> str:
    return t(user.lang, key, **fmt)


def done_text(user: ConsoleUser, done: str | None) -> str | None:
    return render_text(user, "done." + done) if done in DONE else None


async def show_lead(request: Request, user: ConsoleUser, store: StoreDep, clock: ClockDep, lead_id: str, *,
                    status_code: int = 200, problem: Problem | None = None, error_text: str | None = None,
                    flash: str | None = None) -> HTMLResponse:
    now = clock()
    async with store.read() as uow:
        lead = await uow.leads.get(lead_id)
        if lead is None or not await can_see(uow, user.principal, lead):
            return not_found(request, user)
        current = await uow.policies.current()
        clocks = await uow.clocks.for_lead(lead_id)
        history = await uow.leads.history(lead_id)
        decisions = await uow.leads.decisions(lead_id) if user.role in ("admin", "manager") else []
    policy = current[1] if current else None
    if problem is not None:
        error_text = refusal_text(user.lang, problem, policy, lead, user.tz)
    own = user.role == "rep" and lead.owner == user.rep_id
    return render(
        request, user, "lead.html", status_code=status_code, lead=lead, label=lead_label(lead),
        sla=sla_of(lead, clocks, now), contact=contact_rows(lead), reasons=reason_lines(lead),
        history=history, clocks=sorted(clocks, key=lambda c: as_utc(c.due_at)),  # type: ignore[arg-type,return-value]
        decision=decisions[-1].explanation if decisions else None,
        actions=[a for a, states in REP_ACTIONS.items() if own and lead.state in states],
        reassign_to=reassign_choices(policy, user, lead), open_states=OPEN_STATES,
        flash=error_text or flash, flash_kind="error" if error_text else "ok")


def reassign_choices(policy: Policy | None, user: ConsoleUser, lead: LeadRecord) -> list[str]:
    """Whom the viewer may hand the lead to: a manager, their team's reps; an admin, every rep."""
    if policy is None or user.role not in ("manager", "admin") or lead.state not in REASSIGN_FROM:
        return []
    reps = team_reps(policy, user.rep_id) if user.role == "manager" else {rep.id for rep in policy.reps}
    return sorted(rep for rep in reps if rep != lead.owner)


async def show_pool(request: Request, user: ConsoleUser, store: StoreDep, clock: ClockDep, *, status_code: int = 200,
                    error_text: str | None = None, flash: str | None = None) -> HTMLResponse:
    now = clock()
    async with store.read() as uow:
        leads = await pool_for(uow, user.principal, LIST_LIMIT)
        lines = await lines_of(uow, leads, now)
        current = await uow.policies.current()
        claimed = await uow.roster.claims_since(user.rep_id, now - timedelta(days=1)) if user.role == "rep" else []
    policy = current[1] if current else None
    return render(request, user, "pool.html", status_code=status_code, lines=lines, rules=policy.pool if policy else None,
                  claimed_today=len(claimed), can_claim=user.role == "rep", flash=error_text or flash,
                  flash_kind="error" if error_text else "ok")
