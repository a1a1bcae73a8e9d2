"""Sales ops' pages (admins only, as the API's policy and source routes are): lead search, the
policy (validate at the line, diff, test cases, apply, versions and rollback), simulation on
real or uploaded leads with charts, sources and their keys, dead letters, the funnel.

The pages only read forms and draw; what they do is in ``ops_work``. Every form posts with the
session's CSRF token; nothing a person typed about a lead (an email, a phone) goes in an address.
A page that changes something answers with a redirect to the page it came from (a reload does
not do it twice), except the one that shows a new source key: that key is on that one answer
and nowhere else.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from leadrelay.services.router.work import actor_of
from leadrelay.shared.lab.simulation import PolicyRun, SimulationReport
from leadrelay.shared.shell.console import ops_work
from leadrelay.shared.shell.console.charts import (
    BarChart,
    Series,
    bar_chart_svg,
    chart_table,
    side_by_side,
    table_html,
)
from leadrelay.shared.shell.console.i18n import register_messages, t
from leadrelay.shared.shell.console.i18n_ops import OPS_MESSAGES
from leadrelay.shared.shell.console.render import NO_STORE, not_found, render
from leadrelay.shared.shell.console.session import AdminUserDep, ConsoleUser, CsrfFormDep, ManagerUserDep
from leadrelay.shared.web.body_limit import body_limit
from leadrelay.shared.web.deps import ClockDep, SettingsDep, StoreDep

register_messages(OPS_MESSAGES)

SOURCE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
# The kinds made here need no settings; an ad platform's or a CRM's source needs its secrets,
# given on the command line (``leadrelay sources add NAME --kind meta --set app_secret=env:…``).
SOURCE_KINDS = ("api", "csv")
DEFAULT_DAYS = 7
FUNNEL_DAYS = 30


def _actor(user: ConsoleUser) -> str:
    return f"console:{actor_of(user.principal)}"


def _text(form: Any, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


async def _upload_text(form: Any, name: str) -> str:
    upload = form.get(name)
    if isinstance(upload, UploadFile):
        data = await upload.read()
        return data.decode("utf-8", errors="replace")
    return ""


def _back(path: str, **query: object) -> RedirectResponse:
    """After a change: back to the page, what happened said in the query (never PII)."""
    suffix = "&".join(f"{key}={value}" for key, value in query.items())
    return RedirectResponse(path + (f"?{suffix}" if suffix else ""), status_code=303, headers=NO_STORE)


def _int(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdigit() and len(value) < 10 else None


def ops_router() -> APIRouter:
    router = APIRouter()

    @router.get("/console/ops")
    async def ops_home(user: AdminUserDep) -> RedirectResponse:
        return RedirectResponse("/console/ops/search", status_code=303)

    # --- lead search ---------------------------------------------------------------------------

    @router.get("/console/ops/search")
    async def search_page(request: Request, user: AdminUserDep) -> HTMLResponse:
        return render(request, user, "ops/search.html", searched=False, leads=[], form={})

    @router.post("/console/ops/search")
    async def search(request: Request, user: AdminUserDep, _csrf: CsrfFormDep, store: StoreDep,
                     settings: SettingsDep) -> HTMLResponse:
        form = await request.form()
        typed = {name: _text(form, name)[:320] for name in ("lead_id", "email", "phone", "country")}
        error = None
        leads: list[Any] = []
        decision = None
        earlier = 0
        if not any(typed[name].strip() for name in ("lead_id", "email", "phone")):
            error = t(user.lang, "ops.search.empty")
        else:
            try:
                leads = await ops_work.find_leads(store, settings.identity_salt, **typed)
            except ops_work.SearchInput as exc:
                error = t(user.lang, "ops.search.bad", field=t(user.lang, f"ops.search.{exc.field}"),
                          reason=exc.reason)
        if len(leads) == 1:
            async with store.read() as uow:
                decisions = await uow.leads.decisions(leads[0].lead_id)
            if decisions:
                decision = dict(decisions[-1].explanation, decided_at=decisions[-1].decided_at)
                earlier = len(decisions) - 1
        # The email and phone are not written back into the page's form: the page stays free of
        # what was typed, should it be left open on a shared screen.
        return render(request, user, "ops/search.html", searched=error is None, leads=leads, error=error,
                      decision=decision, earlier=earlier, form={"lead_id": typed["lead_id"]},
                      status_code=422 if error else 200)

    # --- the policy ----------------------------------------------------------------------------

    @router.get("/console/ops/policy")
    async def policy_page(request: Request, user: AdminUserDep, store: StoreDep, applied: str | None = None,
                          unchanged: str | None = None, rolled: str | None = None,
                          source: str | None = None) -> HTMLResponse:
        overview = await ops_work.policy_overview(store)
        flash = None
        if _int(applied) is not None:
            flash = t(user.lang, "ops.policy.applied", version=_int(applied))
        elif _int(unchanged) is not None:
            flash = t(user.lang, "ops.policy.unchanged", version=_int(unchanged))
        elif _int(rolled) is not None and _int(source) is not None:
            flash = t(user.lang, "ops.policy.rolled_back", version=_int(rolled), source=_int(source))
        return render(request, user, "ops/policy.html", overview=overview, text=overview.masked_text,
                      cases_text="", flash=flash, outcome=None)

    @router.post("/console/ops/policy")
    @body_limit("max_policy_body_bytes")
    async def policy_action(request: Request, user: AdminUserDep, _csrf: CsrfFormDep, store: StoreDep,
                            clock: ClockDep) -> Response:
        form = await request.form()
        action = _text(form, "action")
        text = _text(form, "document")
        cases_text = _text(form, "cases") or await _upload_text(form, "cases_file")
        overview = await ops_work.policy_overview(store)
        outcome: dict[str, Any] = {"action": action}
        status = 200
        if action == "apply":
            applied = await ops_work.apply_policy_text(request.app.state.runtime, text, _actor(user))
            if not applied.problems:
                if applied.created:
                    return _back("/console/ops/policy", applied=applied.version)
                return _back("/console/ops/policy", unchanged=applied.version)
            outcome["problems"] = applied.problems
            status = 422
        else:
            current = overview.policy
            check = ops_work.check_policy(ops_work.restore_masked(text, current))
            if check.policy is None:
                outcome["problems"] = check.problems
                status = 422
            elif action == "diff":
                outcome["changes"] = ops_work.policy_changes(current, check.policy)
            elif action == "test":
                if not cases_text.strip():
                    outcome["cases_missing"] = True
                    status = 422
                else:
                    run = ops_work.try_cases(check.policy, cases_text)
                    outcome["cases"] = run
                    status = 422 if run.problems or run.passed < len(run.results) else 200
            else:  # validate
                outcome["valid"] = check.policy
        if outcome.get("problems"):
            by_line: dict[int, list[str]] = {}
            for problem in outcome["problems"]:
                if problem.line is not None:
                    by_line.setdefault(problem.line, []).append(
                        f"{problem.path}: {problem.message}" if problem.path else problem.message)
            outcome["by_line"] = by_line
            outcome["lines"] = text.splitlines()
        return render(request, user, "ops/policy.html", overview=overview, text=text, cases_text=cases_text,
                      outcome=outcome, flash=None, status_code=status)

    @router.get("/console/ops/policy/versions/{version}")
    async def policy_version(request: Request, user: AdminUserDep, store: StoreDep, version: int) -> HTMLResponse:
        text = await ops_work.masked_version(store, version) if 0 < version < 2**31 else None
        if text is None:
            return not_found(request, user)
        return render(request, user, "ops/policy_version.html", version=version, text=text)

    @router.post("/console/ops/policy/rollback")
    async def policy_rollback(request: Request, user: AdminUserDep, _csrf: CsrfFormDep) -> Response:
        form = await request.form()
        version = _int(_text(form, "version"))
        applied = await ops_work.roll_back(request.app.state.runtime, version, _actor(user)) if version else None
        if applied is None:
            return not_found(request, user)
        if not applied.created:
            return _back("/console/ops/policy", unchanged=applied.version)
        return _back("/console/ops/policy", rolled=applied.version, source=version)

    # --- simulation ----------------------------------------------------------------------------

    @router.get("/console/ops/simulate")
    async def simulate_page(request: Request, user: AdminUserDep, store: StoreDep) -> HTMLResponse:
        overview = await ops_work.policy_overview(store)
        return render(request, user, "ops/simulate.html", text=overview.masked_text, days=DEFAULT_DAYS,
                      use="recent", result=None, problems=None, error=None,
                      most_days=ops_work.MAX_SIMULATION_DAYS)

    @router.post("/console/ops/simulate")
    @body_limit("max_console_upload_bytes")
    async def simulate(request: Request, user: AdminUserDep, _csrf: CsrfFormDep, store: StoreDep,
                       clock: ClockDep) -> HTMLResponse:
        form = await request.form()
        text = _text(form, "document")
        use = "file" if _text(form, "use") == "file" else "recent"
        days_text = _text(form, "days").strip() or str(DEFAULT_DAYS)
        days = _int(days_text)
        current = await ops_work.current_policy(store)
        check = ops_work.check_policy(ops_work.restore_masked(text, current[1] if current else None))

        def page(status: int, **context: Any) -> HTMLResponse:
            values = {"text": text, "days": days_text, "use": use, "result": None, "problems": None,
                      "error": None, "most_days": ops_work.MAX_SIMULATION_DAYS, **context}
            return render(request, user, "ops/simulate.html", status_code=status, **values)

        if check.policy is None:
            return page(422, problems=check.problems)
        proposed = check.policy
        now = clock()
        rejected: list[tuple[int, str]] = []
        truncated = False
        if use == "file":
            upload = form.get("leads_file")
            if not isinstance(upload, UploadFile) or not upload.filename:
                return page(422, error=t(user.lang, "ops.sim.no_file"))
            leads, rejected, truncated = await run_in_threadpool(
                ops_work.uploaded_leads, await upload.read(), upload.filename, proposed)
        else:
            if days is None or not 1 <= days <= ops_work.MAX_SIMULATION_DAYS:
                return page(422, error=t(user.lang, "ops.sim.bad_days", most=ops_work.MAX_SIMULATION_DAYS))
            leads, truncated = await ops_work.recent_leads(store, now, days)
        if not leads:
            return page(200, error=t(user.lang, "ops.sim.no_leads"), rejected=rejected[:20],
                        rejected_count=len(rejected))
        # Seconds of CPU for many leads: off the event loop, which also runs the consumers in
        # embedded mode.
        report = await run_in_threadpool(ops_work.run_simulation, proposed, current[1] if current else None, leads,
                                         _next_monday_nine(now, proposed.timezone))
        return page(200, result=_simulation_view(user, report), truncated=truncated,
                    rejected=rejected[:20], rejected_count=len(rejected))

    # --- sources -------------------------------------------------------------------------------

    @router.get("/console/ops/sources")
    async def sources_page(request: Request, user: AdminUserDep, store: StoreDep,
                           revoked: str | None = None) -> HTMLResponse:
        flash = None
        if revoked and SOURCE_NAME.match(revoked):
            flash = t(user.lang, "ops.sources.revoked_done", name=revoked)
        return render(request, user, "ops/sources.html", sources=await ops_work.list_sources(store), flash=flash,
                      error=None, kinds=SOURCE_KINDS)

    async def sources_error(request: Request, user: ConsoleUser, store: Any, message: str,
                            status: int = 422) -> HTMLResponse:
        return render(request, user, "ops/sources.html", sources=await ops_work.list_sources(store), error=message,
                      flash=None, kinds=SOURCE_KINDS, status_code=status)

    def key_page(request: Request, user: ConsoleUser, name: str, key: str, rotated: bool) -> HTMLResponse:
        # Shown on this answer only (no-store): the key is kept nowhere but in its hash.
        return render(request, user, "ops/source_key.html", name=name, key=key, rotated=rotated)

    @router.post("/console/ops/sources/create")
    async def source_create(request: Request, user: AdminUserDep, _csrf: CsrfFormDep, store: StoreDep) -> Response:
        form = await request.form()
        name, kind = _text(form, "name").strip(), _text(form, "kind").strip() or "api"
        if not SOURCE_NAME.match(name):
            return await sources_error(request, user, store, t(user.lang, "ops.sources.bad_name"))
        if kind not in SOURCE_KINDS:
            return await sources_error(request, user, store, t(user.lang, "ops.sources.bad_kind"))
        key = await ops_work.add_source(request.app.state.runtime, name, kind)
        if key is None:
            return await sources_error(request, user, store, t(user.lang, "ops.sources.exists", name=name), 409)
        return key_page(request, user, name, key, rotated=False)

    @router.post("/console/ops/sources/rotate")
    async def source_rotate(request: Request, user: AdminUserDep, _csrf: CsrfFormDep, store: StoreDep) -> Response:
        form = await request.form()
        name = _text(form, "name").strip()
        key = await ops_work.new_source_key(request.app.state.runtime, name) if SOURCE_NAME.match(name) else None
        if key is None:
            return await sources_error(request, user, store, t(user.lang, "ops.sources.unknown", name=name[:100]), 404)
        return key_page(request, user, name, key, rotated=True)

    @router.post("/console/ops/sources/revoke")
    async def source_revoke(request: Request, user: AdminUserDep, _csrf: CsrfFormDep, store: StoreDep) -> Response:
        form = await request.form()
        name = _text(form, "name").strip()
        if not SOURCE_NAME.match(name) or not await ops_work.revoke_source(store, name):
            return await sources_error(request, user, store, t(user.lang, "ops.sources.unknown", name=name[:100]), 404)
        return _back("/console/ops/sources", revoked=name)

    # --- dead letters --------------------------------------------------------------------------

    @router.get("/console/ops/dlq")
    async def dlq_page(request: Request, user: AdminUserDep, store: StoreDep, redriven: str | None = None,
                       show_all: Annotated[str | None, Query(alias="all")] = None) -> HTMLResponse:
        flash = t(user.lang, "ops.dlq.redriven", count=_int(redriven)) if _int(redriven) is not None else None
        letters = await ops_work.dead_letters(store, include_redriven=show_all == "1")
        return render(request, user, "ops/dlq.html", letters=letters, flash=flash, show_all=show_all == "1")

    @router.post("/console/ops/dlq/redrive")
    async def dlq_redrive(request: Request, user: AdminUserDep, _csrf: CsrfFormDep, store: StoreDep) -> Response:
        form = await request.form()
        one = _int(_text(form, "id"))
        if _text(form, "all") != "1" and one is None:
            return not_found(request, user)
        count = await ops_work.redrive_letters(store, None if one is None else [one])
        return _back("/console/ops/dlq", redriven=count)

    # --- the funnel ----------------------------------------------------------------------------

    @router.get("/console/ops/reports/funnel")
    async def funnel_page(request: Request, user: ManagerUserDep, store: StoreDep, clock: ClockDep,
                          days: str | None = None, by: str | None = None) -> HTMLResponse:
        # As GET /v1/reports/funnel: admins see every lead, a manager the leads in their reach.
        from leadrelay.services.router.funnel import GROUP_KEYS
        from leadrelay.services.router.reports import funnel_report

        period = _int(days) or FUNNEL_DAYS
        period = min(max(period, 1), 366)
        keys = [by] if by in GROUP_KEYS else []
        now = clock()
        report = await funnel_report(store, clock, now - timedelta(days=period), now, keys, principal=user.principal)
        stages = ("received", "assigned", "accepted", "contacted", "converted")
        total = {stage: sum(getattr(row, stage) for row in report.rows) for stage in stages}
        words = {stage: t(user.lang, f"ops.funnel.{stage}") for stage in stages}
        chart = BarChart(chart_id="funnel", title=t(user.lang, "ops.funnel.title"),
                         description=t(user.lang, "ops.funnel.chart_desc"),
                         categories=tuple(words[stage] for stage in stages),
                         series=(Series(t(user.lang, "ops.funnel.leads"), tuple(float(total[s]) for s in stages)),),
                         category_label=t(user.lang, "ops.funnel.stage"), value_label=t(user.lang, "ops.sim.leads_unit"))
        return render(request, user, "ops/funnel.html", report=report, days=period, by=keys[0] if keys else "",
                      group_keys=GROUP_KEYS, chart_svg=bar_chart_svg(chart), chart_table=table_html(chart_table(chart)))

    return router


def _next_monday_nine(now: datetime, timezone: str) -> datetime:
    """When leads without a time of their own start arriving: next Monday 09:00 in the policy's
    zone (as ``leadrelay policy simulate`` does), from the injected clock's today."""
    tz = ZoneInfo(timezone)
    today = now.astimezone(tz).date()
    monday = today + timedelta(days=(7 - today.weekday()) % 7 or 7)
    return datetime(monday.year, monday.month, monday.day, 9, tzinfo=tz)


def _simulation_view(user: ConsoleUser, report: SimulationReport) -> dict[str, Any]:
    """The report as the page shows it: figures side by side, charts with their tables, moves."""
    lang = user.lang
    run, base = report.run, report.baseline
    current_name, proposed_name = t(lang, "ops.sim.current"), t(lang, "ops.sim.proposed_short")

    def ratio(policy_run: PolicyRun | None) -> str:
        if policy_run is None:
            return "—"
        if policy_run.max_min_ratio is None:
            return t(lang, "ops.sim.infinite")
        return f"{policy_run.max_min_ratio:.2f}"

    def figure(policy_run: PolicyRun | None, name: str) -> str:
        if policy_run is None:
            return "—"
        value = {"assigned": policy_run.assigned, "unassigned": policy_run.unassigned_total,
                 "gini": f"{policy_run.gini:.3f}", "max_min": ratio(policy_run),
                 "sla_risk": policy_run.sla_at_risk, "breaches": policy_run.capacity_breaches,
                 "off_hours": policy_run.off_hours_assignments}[name]
        return str(value)

    names = ("assigned", "unassigned", "gini", "max_min", "sla_risk", "breaches", "off_hours")
    figures = [(t(lang, f"ops.sim.{name}"), figure(base, name), figure(run, name)) for name in names]

    reps = sorted({stats.rep for stats in run.reps} | ({stats.rep for stats in base.reps} if base else set()))
    proposed_by_rep = {stats.rep: stats for stats in run.reps}
    current_by_rep = {stats.rep: stats for stats in base.reps} if base else {}

    def chart(chart_id: str, title: str, description: str, value: str) -> dict[str, Any]:
        proposed_values = [getattr(proposed_by_rep[rep], value) if rep in proposed_by_rep else 0 for rep in reps]
        current_values = [getattr(current_by_rep[rep], value) if rep in current_by_rep else 0 for rep in reps]
        built = side_by_side(reps, current_values, proposed_values, chart_id=chart_id, title=title,
                             description=description, current_name=current_name, proposed_name=proposed_name,
                             category_label=t(lang, "ops.sim.rep"), value_label=t(lang, "ops.sim.leads_unit"))
        return {"svg": bar_chart_svg(built), "table": table_html(chart_table(built))}

    charts = [
        chart("leads-per-rep", t(lang, "ops.sim.per_rep"), t(lang, "ops.sim.per_rep_desc"), "received"),
        chart("sla-risk-per-rep", t(lang, "ops.sim.risk_per_rep"), t(lang, "ops.sim.risk_per_rep_desc"),
              "sla_at_risk"),
    ]
    return {"report": report, "figures": figures, "charts": charts, "has_baseline": base is not None,
            "current_name": current_name, "proposed_name": proposed_name}
