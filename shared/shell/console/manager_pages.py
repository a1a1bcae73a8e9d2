"""The pages a manager runs the team from (an admin sees every team): the team's leads with
filters, the SLA board, credits with the ledger, the fallback queue. Reassigning is a form on the
lead page (``rep_pages``). The reach is the API's: a manager, their teams' leads and reps."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from leadrelay.services.router.assignment import today
from leadrelay.services.router.availability import RepLoad, unavailability
from leadrelay.services.router.work import in_managers_reach, pool_for, team_reps
from leadrelay.shared.clock import as_utc
from leadrelay.shared.policy import Policy, Rep
from leadrelay.shared.ports import LeadRecord, RepLoadRecord, Store, UnitOfWork
from leadrelay.shared.security import Principal
from leadrelay.shared.shell.console.i18n import t
from leadrelay.shared.shell.console.leads import (
    AT_RISK_WITHIN,
    STATES,
    WAITING_STATES,
    LeadLine,
    lines_of,
    reason_lines,
    work_order,
)
from leadrelay.shared.shell.console.render import not_found, render
from leadrelay.shared.shell.console.rep_pages import LIST_LIMIT, done_text
from leadrelay.shared.shell.console.session import ConsoleUser, ConsoleUserDep, CsrfFormDep, ManagerUserDep
from leadrelay.shared.web.deps import ClockDep, StoreDep

SLA_FILTERS = ("breached", "at_risk")
# A rep at or over this share of their open-lead cap reads as overloaded on the board.
OVERLOADED_SHARE = 0.9


def manager_router() -> APIRouter:
    router = APIRouter()

    @router.get("/console/team")
    async def team(request: Request, user: ManagerUserDep, store: StoreDep, clock: ClockDep,
                   state: str | None = None, grade: str | None = None, rep: str | None = None,
                   sla: str | None = None, done: str | None = None) -> HTMLResponse:
        async with store.read() as uow:
            policy = await policy_of(uow)
            reps = reps_in_reach(policy, user.principal)
            lines = await team_lines(uow, user.principal, policy, clock())
        chosen = {"state": state if state in STATES else None, "grade": grade or None,
                  "rep": rep if rep in reps else None, "sla": sla if sla in SLA_FILTERS else None}
        shown = [line for line in lines if matches(line, **chosen)]
        grades = sorted({line.lead.grade for line in lines if line.lead.grade})
        return render(request, user, "team.html", lines=shown, total=len(lines), chosen=chosen, states=STATES,
                      grades=grades, reps=sorted(reps), sla_filters=SLA_FILTERS, reasons=reason_lines,
                      flash=done_text(user, done))

    @router.get("/console/board")
    async def board(request: Request, user: ManagerUserDep, store: StoreDep, clock: ClockDep) -> HTMLResponse:
        now = clock()
        async with store.read() as uow:
            policy = await policy_of(uow)
            lines = await team_lines(uow, user.principal, policy, now)
            reps = sorted(reps_in_reach(policy, user.principal))
            loads = await uow.roster.loads(reps) if reps else {}
        open_lines = [line for line in lines if line.is_open]
        breaking = sorted((line for line in open_lines if line.sla.state == "at_risk"), key=work_order)
        breached = sorted((line for line in open_lines if line.sla.state == "breached"), key=work_order)
        people = [rep_status(policy, policy.rep(rep_id), loads.get(rep_id), now, user.lang, open_lines)
                  for rep_id in reps] if policy is not None else []
        return render(request, user, "board.html", breaking=breaking, breached=breached, people=people,
                      within_minutes=int(AT_RISK_WITHIN.total_seconds() // 60),
                      waiting=sum(1 for line in lines if line.lead.state in WAITING_STATES))

    @router.get("/console/fallback")
    async def fallback(request: Request, user: ManagerUserDep, store: StoreDep, clock: ClockDep) -> HTMLResponse:
        async with store.read() as uow:
            policy = await policy_of(uow)
            waiting = [lead for lead in [*await uow.leads.where(state="queued", limit=LIST_LIMIT),
                                         *await uow.leads.where(state="held", limit=LIST_LIMIT)]
                       if sees(policy, user.principal, lead)]
            lines = await lines_of(uow, waiting, clock())
        lines.sort(key=lambda line: as_utc(line.lead.received_at))  # type: ignore[arg-type,return-value]
        return render(request, user, "fallback.html", lines=lines,
                      queue=policy.fallback.queue if policy is not None else None)

    @router.get("/console/reps/{rep_id}/credits")
    async def credits(request: Request, rep_id: str, user: ConsoleUserDep, store: StoreDep,
                      done: str | None = None) -> HTMLResponse:
        return await show_credits(request, user, store, rep_id, flash=done_text(user, done))

    @router.post("/console/reps/{rep_id}/credits")
    async def grant(request: Request, rep_id: str, user: ConsoleUserDep, _csrf: CsrfFormDep, store: StoreDep,
                    delta: Annotated[int, Form(ge=-10, le=10)], reason: Annotated[str, Form(max_length=500)] = ""
                    ) -> Response:
        if user.role not in ("admin", "manager"):
            return await show_credits(request, user, store, rep_id, status_code=403,
                                      error_text=t(user.lang, "credits.only_managers"))
        if len(reason.strip()) < 3:
            return await show_credits(request, user, store, rep_id, status_code=422,
                                      error_text=t(user.lang, "credits.reason_required"))
        async with store.transaction() as uow:
            policy = await policy_of(uow)
            if policy is None or rep_id not in reps_in_reach(policy, user.principal):
                return not_found(request, user)
            await uow.roster.lock([rep_id])
            await uow.roster.add_credit(rep_id, delta, reason.strip(), user.rep_id or user.role, None)
        return RedirectResponse(f"/console/reps/{rep_id}/credits?done=credit", status_code=303)

    return router


async def policy_of(uow: UnitOfWork) -> Policy | None:
    current = await uow.policies.current()
    return current[1] if current else None


def reps_in_reach(policy: Policy | None, principal: Principal) -> set[str]:
    if policy is None:
        return set()
    if principal.role == "admin":
        return {rep.id for rep in policy.reps}
    if principal.role == "manager":
        return team_reps(policy, principal.rep_id)
    return {principal.rep_id} if principal.role == "rep" and principal.rep_id else set()


def sees(policy: Policy | None, principal: Principal, lead: LeadRecord) -> bool:
    if principal.role == "admin":
        return True
    return policy is not None and principal.role == "manager" and in_managers_reach(policy, principal.rep_id, lead)


async def team_lines(uow: UnitOfWork, principal: Principal, policy: Policy | None, now: datetime) -> list[LeadLine]:
    """The team's leads as ``GET /v1/me/leads`` lists them for the caller, and the team's
    waiting ones (queue, pool, held), open first and nearest deadline first."""
    if principal.role == "admin":
        owned = await uow.leads.where(limit=LIST_LIMIT)
    else:
        reps = sorted(reps_in_reach(policy, principal))
        owned = await uow.leads.where(owners=reps, limit=LIST_LIMIT) if reps else []
    waiting = await pool_for(uow, principal, LIST_LIMIT)
    held = [lead for lead in await uow.leads.where(state="held", limit=LIST_LIMIT) if sees(policy, principal, lead)]
    by_id = {lead.lead_id: lead for lead in [*owned, *waiting, *held]}
    return sorted(await lines_of(uow, list(by_id.values()), now), key=work_order)


def matches(line: LeadLine, *, state: str | None, grade: str | None, rep: str | None, sla: str | None) -> bool:
    lead = line.lead
    return ((state is None or lead.state == state) and (grade is None or lead.grade == grade)
            and (rep is None or lead.owner == rep) and (sla is None or line.sla.state == sla))


@dataclass(frozen=True)
class RepStatus:
    rep_id: str
    name: str | None
    open: int
    open_cap: int | None
    today: int
    today_cap: int | None
    unavailable: str | None  # why the rep can't take a lead now (off shift, out of office, ...), in words
    off_shift: bool
    overloaded: bool
    at_risk: int  # their open leads at risk or breached


def rep_status(policy: Policy, rep: Rep, row: RepLoadRecord | None, now: datetime, lang: str,
               open_lines: list[LeadLine]) -> RepStatus:
    load = RepLoad(open=row.open_leads if row else 0,
                   assigned_today=row.assigned_today if row and row.day == today(policy, now) else 0)
    why = unavailability(rep, policy, load, now)
    cap = rep.capacity
    overloaded = (cap.open is not None and load.open >= cap.open * OVERLOADED_SHARE) or (
        cap.per_day is not None and load.assigned_today >= cap.per_day)
    off_shift = why is not None and not why.startswith(("at capacity", "daily cap", "paused"))
    risky = sum(1 for line in open_lines if line.lead.owner == rep.id and line.sla.state in SLA_FILTERS)
    return RepStatus(rep.id, rep.name, load.open, cap.open, load.assigned_today, cap.per_day,
                     availability_text(lang, why), off_shift, overloaded, risky)


def availability_text(lang: str, why: str | None) -> str | None:
    """The availability check's reason (English, from the routing engine), led by a word in the
    viewer's language: the details (times, counts) stay as the engine wrote them."""
    if why is None:
        return None
    for prefix, key in (("paused", "avail.paused"), ("out of office", "avail.away"), ("at capacity", "avail.full"),
                        ("daily cap", "avail.daily_cap")):
        if why.startswith(prefix):
            return f"{t(lang, key)} ({why})" if lang != "en" else why
    return f"{t(lang, 'avail.off_shift')} ({why})" if lang != "en" else why


async def show_credits(request: Request, user: ConsoleUser, store: Store, rep_id: str, *, status_code: int = 200,
                       error_text: str | None = None, flash: str | None = None) -> HTMLResponse:
    async with store.read() as uow:
        policy = await policy_of(uow)
        if rep_id not in reps_in_reach(policy, user.principal):
            return not_found(request, user)
        entries = await uow.roster.ledger(rep_id)
    return render(request, user, "credits.html", status_code=status_code, rep_id=rep_id,
                  balance=sum(e.delta for e in entries), entries=list(reversed(entries)),
                  can_grant=user.role in ("admin", "manager"), flash=error_text or flash,
                  flash_kind="error" if error_text else "ok")


