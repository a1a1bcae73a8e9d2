"""The ``leadrelay`` command line."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from shared import logging as logs
from shared.settings import Settings

app = typer.Typer(help="Leadrelay: event-driven, SLA-aware lead routing.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
sources_app = typer.Typer(help="Lead sources and their API keys.", no_args_is_help=True)
tokens_app = typer.Typer(help="Bearer tokens for admins, managers and reps.", no_args_is_help=True)
reps_app = typer.Typer(help="Sales reps.", no_args_is_help=True)
policy_app = typer.Typer(help="The routing policy: validate, diff, simulate, apply.", no_args_is_help=True)
demo_app = typer.Typer(help="Synthetic data for trying Leadrelay.", no_args_is_help=True)
dlq_app = typer.Typer(help="Dead-lettered events.", no_args_is_help=True)
app.add_typer(sources_app, name="sources")
app.add_typer(tokens_app, name="tokens")
app.add_typer(reps_app, name="reps")
app.add_typer(policy_app, name="policy")
app.add_typer(demo_app, name="demo")
app.add_typer(dlq_app, name="dlq")

out = Console()
err = Console(stderr=True)

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Embedded mode's data folder.")]


def settings_for(data_dir: Path | None, **overrides: Any) -> Settings:
    values = {k: v for k, v in overrides.items() if v is not None}
    if data_dir is not None:
        values["data_dir"] = data_dir
    try:
        return Settings(**values)
    except ValidationError as exc:
        err.print(f"[red]{exc.errors()[0]['msg'].removeprefix('Value error, ')}[/red]")
        raise typer.Exit(2) from None


def run_async(coro: Any) -> Any:
    return asyncio.run(coro)


async def _with_runtime(settings: Settings, work: Any) -> Any:
    from sqlalchemy import inspect

    from shared.bootstrap import build_runtime

    if settings.mode == "embedded" and settings.database_url:
        err.print("[yellow]LEADRELAY_DATABASE_URL is set but LEADRELAY_MODE is not 'distributed': "
                  f"using the embedded database in {settings.data_dir}.[/yellow]")
    runtime = build_runtime(settings)
    try:
        if settings.mode == "embedded":
            await runtime.store.create_schema()
        else:
            async with runtime.store.engine.connect() as conn:
                tables = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
            if "alembic_version" not in tables:
                err.print("[red]No Leadrelay schema in this database: run `leadrelay migrate` first.[/red]")
                raise typer.Exit(2)
        return await work(runtime)
    finally:
        await runtime.store.dispose()


@app.command()
def run(
    policy: Annotated[Path | None, typer.Option(help="Policy YAML (default: the bundled example).")] = None,
    data_dir: DataDir = None,
    host: Annotated[str | None, typer.Option(help="Listen address (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port (default 8080).")] = None,
) -> None:
    """Embedded mode: all four services in one process, SQLite, no Kafka or Postgres needed."""
    settings = settings_for(data_dir, host=host, port=port, mode="embedded")
    logs.configure(settings.log_level, settings.log_json)
    if policy is not None and not policy.exists():
        err.print(f"[red]No such policy file: {policy}[/red]")
        raise typer.Exit(2)

    async def main() -> None:
        from shared.bootstrap import build_app, build_runtime, install_stop_signals, prepare_embedded, run_services

        runtime = build_runtime(settings)
        version, demo_key = await prepare_embedded(runtime, policy)
        stop = asyncio.Event()
        install_stop_signals(stop)
        err.print(f"[bold green]Leadrelay[/bold green] embedded on {settings.base_url} "
                  f"(policy v{version}, data in {settings.data_dir})")
        if demo_key:
            err.print("Demo source 'demo' created. Its API key (shown once):")
            print(demo_key, flush=True)
        await run_services(runtime, ("scoring", "router", "notifier"), stop, app=build_app(runtime))

    run_async(main())


@app.command()
def serve(service: Annotated[str, typer.Argument(help="intake | scoring | router | notifier | relay")]) -> None:
    """Distributed mode: run one service; configuration from LEADRELAY_* environment variables."""
    from shared.bootstrap import SERVICES

    if service not in SERVICES:
        err.print(f"[red]Unknown service '{service}'. Choose one of: {', '.join(SERVICES)}[/red]")
        raise typer.Exit(2)
    settings = settings_for(None, mode="distributed")
    logs.configure(settings.log_level, settings.log_json)

    async def main() -> None:
        from shared.bootstrap import build_app, build_runtime, install_stop_signals, run_services
        from shared.http import create_app

        runtime = build_runtime(settings)
        stop = asyncio.Event()
        install_stop_signals(stop)
        # Intake serves the API; every other service serves /metrics and the health checks
        # on LEADRELAY_METRICS_PORT when it is set (one port per process on a shared host).
        if service == "intake":
            app, port = build_app(runtime), settings.port
        elif settings.metrics_port:
            app, port = create_app(runtime, []), settings.metrics_port
        else:
            app, port = None, None
        await run_services(runtime, (service,), stop, app=app, port=port)

    run_async(main())


@app.command()
def migrate() -> None:
    """Apply the database migrations (distributed mode; LEADRELAY_DATABASE_URL)."""
    from shared.migrate import upgrade

    settings = Settings()
    if not settings.database_url:
        err.print("[red]Set LEADRELAY_DATABASE_URL (postgresql+asyncpg://…); embedded mode needs no migration.[/red]")
        raise typer.Exit(2)
    upgrade(settings.database_url)
    err.print("database at the newest schema")


topics_app = typer.Typer(help="Kafka topics.", no_args_is_help=True)
app.add_typer(topics_app, name="topics")


@topics_app.command("ensure")
def topics_ensure() -> None:
    """Create the pipeline's topics and dead-letter topics (LEADRELAY_KAFKA_BOOTSTRAP)."""
    from shared.adapters.kafka_bus import KafkaBus
    from shared.topics import all_topics

    settings = Settings()
    names = all_topics()
    bus = KafkaBus(settings.kafka_bootstrap, partitions=settings.kafka_partitions, prefix=settings.topic_prefix)
    run_async(bus.ensure_topics(names))
    err.print(f"{len(names)} topics present on {settings.kafka_bootstrap}")


@sources_app.command("add")
def sources_add(
    name: str,
    data_dir: DataDir = None,
    kind: Annotated[str, typer.Option(help="api | meta | google_ads | csv")] = "api",
    setting: Annotated[list[str] | None, typer.Option(
        "--set", help="Platform settings as KEY=VALUE (meta: app_secret, verify_token, page_token; "
                      "google_ads: google_key). A value 'env:NAME' is read from the environment at use.")] = None,
) -> None:
    """Create a lead source and print its API key once (the last line of stdout is the bare key)."""
    from shared.bootstrap import create_source

    if kind not in ("api", "meta", "google_ads", "csv"):
        err.print("[red]--kind must be api, meta, google_ads or csv.[/red]")
        raise typer.Exit(2)
    config = {}
    for item in setting or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            err.print(f"[red]--set takes KEY=VALUE (got '{item}').[/red]")
            raise typer.Exit(2)
        config[key.strip()] = value

    async def work(runtime: Any) -> str:
        async with runtime.store.read() as uow:
            if await uow.source_by_name(name) is not None:
                err.print(f"[red]A source named '{name}' exists already.[/red]")
                raise typer.Exit(1)
        return await create_source(runtime, name, kind, config)

    key = run_async(_with_runtime(settings_for(data_dir), work))
    err.print(f"Source '{name}' created. Keep this key secret; it is not stored and cannot be shown again:")
    print(key)


@sources_app.command("list")
def sources_list(data_dir: DataDir = None) -> None:
    """List lead sources (key prefixes only)."""

    async def work(runtime: Any) -> list[Any]:
        async with runtime.store.read() as uow:
            return await uow.list_sources()

    table = Table("name", "kind", "key prefix", "created", "revoked")
    for row in run_async(_with_runtime(settings_for(data_dir), work)):
        table.add_row(row.name, row.kind, row.key_prefix + "…", str(row.created_at)[:19], str(row.revoked_at or "")[:19])
    out.print(table)


@sources_app.command("revoke")
def sources_revoke(name: str, data_dir: DataDir = None) -> None:
    """Revoke a source's key: its posts are refused from now on."""

    async def work(runtime: Any) -> bool:
        async with runtime.store.transaction() as uow:
            return await uow.revoke_source(name)

    if not run_async(_with_runtime(settings_for(data_dir), work)):
        err.print(f"[red]No active source named '{name}'.[/red]")
        raise typer.Exit(1)
    err.print(f"Source '{name}' revoked.")


def _create_token(data_dir: Path | None, role: str, rep: str | None) -> str:
    from shared.security import TOKEN_PREFIX, hash_secret, new_secret, visible_prefix

    token = new_secret(TOKEN_PREFIX)

    async def work(runtime: Any) -> None:
        async with runtime.store.transaction() as uow:
            await uow.add_token(hash_secret(token), visible_prefix(token), role, rep)

    run_async(_with_runtime(settings_for(data_dir), work))
    return token


@tokens_app.command("create")
def tokens_create(
    role: Annotated[str, typer.Option(help="admin | manager | rep")],
    rep: Annotated[str | None, typer.Option(help="The rep's (or manager's) id, for rep and manager tokens.")] = None,
    data_dir: DataDir = None,
) -> None:
    """Create a bearer token and print it once (the last line of stdout)."""
    if role not in ("admin", "manager", "rep"):
        err.print("[red]--role must be admin, manager or rep.[/red]")
        raise typer.Exit(2)
    if role in ("rep", "manager") and not rep:
        err.print(f"[red]A {role} token needs --rep ID.[/red]")
        raise typer.Exit(2)
    token = _create_token(data_dir, role, rep)
    err.print(f"{role} token created; it is shown once:")
    print(token)


@reps_app.command("token")
def reps_token(rep: str, data_dir: DataDir = None) -> None:
    """Shorthand for ``tokens create --role rep --rep REP``."""
    print(_create_token(data_dir, "rep", rep))


@policy_app.command("validate")
def policy_validate(file: Path) -> None:
    """Check a policy file; every problem is printed with its path."""
    policy = _policy_from(file)
    out.print(f"[green]{file}: valid[/green] — {len(policy.reps)} reps, {len(policy.teams)} teams, "
              f"{len(policy.rules)} rules")


@policy_app.command("apply")
def policy_apply(file: Path, data_dir: DataDir = None) -> None:
    """Store the file as a new policy version; running services pick it up for new leads."""
    from shared.bootstrap import apply_policy

    _policy_from(file)  # a missing or invalid file is reported before touching the database

    async def work(runtime: Any) -> tuple[int, bool]:
        return await apply_policy(runtime, file.read_text(encoding="utf-8"))

    version, created = run_async(_with_runtime(settings_for(data_dir), work))
    out.print(f"policy v{version} {'applied' if created else 'unchanged (same as the current version)'}")


def _policy_from(file: Path, what: str = "policy") -> Any:
    """Loads a policy file for a command, or exits: 2 when missing, 1 when invalid."""
    from shared.policy import PolicyError, load_policy

    try:
        return load_policy(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        err.print(f"[red]No such {what} file: {file}[/red]")
        raise typer.Exit(2) from None
    except PolicyError as exc:
        err.print(f"[red]{file}: invalid policy[/red]\n{exc}")
        raise typer.Exit(1) from None


@policy_app.command("schema")
def policy_schema() -> None:
    """Print the policy file's JSON Schema (for editors: yaml-language-server)."""
    import json
    import warnings

    from shared.policy import Policy

    with warnings.catch_warnings():  # defaults pydantic cannot show in a schema are left out, as they should be
        warnings.simplefilter("ignore")
        schema = Policy.json_schema()
    print(json.dumps(schema, indent=2, ensure_ascii=False))


@policy_app.command("test")
def policy_test(
    file: Path,
    cases: Annotated[Path, typer.Option("--cases", help="The cases YAML: leads and where they must go.")],
) -> None:
    """Run a policy's own test cases; exit 1 if any fails (the explanation is shown)."""
    from rich.panel import Panel

    from services.router.policy_tests import CasesError, load_cases, run_cases

    policy = _policy_from(file)
    try:
        loaded = load_cases(cases.read_text(encoding="utf-8"))
    except FileNotFoundError:
        err.print(f"[red]No such cases file: {cases}[/red]")
        raise typer.Exit(2) from None
    except CasesError as exc:
        err.print(f"[red]{cases}: invalid cases file[/red]\n{exc}")
        raise typer.Exit(2) from None
    results = run_cases(policy, loaded)
    table = Table("", "case", "got", title=f"{cases.name} against {file.name}", title_justify="left")
    for result in results:
        decision = result.decision
        got = (decision.owner or f"[{decision.queue}]") + f" by {decision.rule or 'fallback'}" if decision else "-"
        table.add_row("[green]PASS[/green]" if result.passed else "[red]FAIL[/red]", _escaped(result.name),
                      _escaped(got))
    out.print(table)
    failed = [result for result in results if not result.passed]
    for result in failed:
        body = "\n".join(f"[red]✗[/red] {failure}" for failure in result.failures)
        if result.decision is not None:
            body += "\n\n" + _escaped(result.explanation)
        out.print(Panel(body, title=f"[red]FAIL[/red] {_escaped(result.name)}", title_align="left"))
    passed = len(results) - len(failed)
    out.print(f"[{'red' if failed else 'green'}]{passed} passed, {len(failed)} failed[/]")
    if failed:
        raise typer.Exit(1)


def _escaped(text: str) -> str:
    from rich.markup import escape

    return escape(text)


@policy_app.command("diff")
def policy_diff(old: Path, new: Path) -> None:
    """What changes from OLD to NEW, in words."""
    from services.router.policy_diff import diff_policies

    lines = diff_policies(_policy_from(old), _policy_from(new))
    if not lines:
        out.print(f"No differences between {old} and {new}.")
        return
    out.print(f"[bold]{old} → {new}[/bold]: {len(lines)} change{'s' if len(lines) != 1 else ''}")
    for line in lines:
        out.print(f"  • {_escaped(line)}")


# Leads are prepared (validated and normalised as intake would) in worker processes when a
# file is big: that costs several times the simulation itself.
_PARALLEL_FROM = 20_000
_CHUNK = 5_000


def _lead_records(path: Path) -> Any:
    """(line number, record) for each lead of a .jsonl or .csv file; a record is the API body
    plus ``source`` and ``received_at`` (for CSV, columns of those names)."""
    if path.suffix.lower() == ".csv":
        from services.intake.csv_import import rows

        for line, body in rows(path):
            attributes = body.get("attributes") or {}
            record = {**body, "attributes": {k: v for k, v in attributes.items() if k not in ("source", "received_at")}}
            for key in ("source", "received_at"):
                if key in attributes:
                    record[key] = attributes[key]
            if not record["attributes"]:
                del record["attributes"]
            yield line, record
        return
    import orjson

    with path.open("rb") as handle:
        for line, raw in enumerate(handle, start=1):
            if raw.strip():
                try:
                    yield line, orjson.loads(raw)
                except orjson.JSONDecodeError as exc:
                    yield line, exc


def _sim_leads(chunk: list[tuple[int, Any]]) -> tuple[list[Any], list[tuple[int, str]]]:
    """Turns records into simulation leads; returns (leads, rejected (line, reason))."""
    from datetime import UTC, datetime

    from services.intake.validation import parse_lead, to_contact
    from services.router.simulation import SimLead
    from shared.facts import lead_facts
    from shared.problems import Problem

    leads, rejected = [], []
    for line, record in chunk:
        if not isinstance(record, dict):
            rejected.append((line, f"not a JSON object ({record})" if isinstance(record, Exception) else "not an object"))
            continue
        body = dict(record)
        source = str(body.pop("source", None) or "simulated")
        received = body.pop("received_at", None)
        body.pop("lead_id", None)
        try:
            contact = to_contact(parse_lead(body))
            at = datetime.fromisoformat(received) if received else None
        except Problem as exc:
            rejected.append((line, exc.detail))
            continue
        except ValueError:
            rejected.append((line, f"received_at: not an ISO 8601 time: {received!r}"))
            continue
        if at is not None:
            at = at.astimezone(UTC) if at.tzinfo is not None else at
        facts = lead_facts(contact, source)
        leads.append(SimLead(facts=facts, source=source, received_at=at, lead_id=f"line-{line}",
                             person=contact.email or contact.phone))
    return leads, rejected


def _prepared(path: Path, total: int, rejected: list[tuple[int, str]], naive_tz: Any) -> Any:
    """Simulation leads in file order; rejected rows are collected into ``rejected``."""
    from itertools import islice

    def fix(leads: list[Any]) -> list[Any]:
        if naive_tz is None:
            return leads
        from dataclasses import replace

        return [replace(lead, received_at=lead.received_at.replace(tzinfo=naive_tz))
                if lead.received_at is not None and lead.received_at.tzinfo is None else lead for lead in leads]

    records = _lead_records(path)
    if total < _PARALLEL_FROM:
        while chunk := list(islice(records, _CHUNK)):
            leads, bad = _sim_leads(chunk)
            rejected += bad
            yield from fix(leads)
        return
    from collections import deque
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=2) as pool:
        pending: deque[Any] = deque()
        while True:
            while len(pending) < 4 and (chunk := list(islice(records, _CHUNK))):
                pending.append(pool.submit(_sim_leads, chunk))
            if not pending:
                break
            leads, bad = pending.popleft().result()
            rejected += bad
            yield from fix(leads)


def _count_lines(path: Path) -> int:
    count = 0
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            count += block.count(b"\n")
    return count


@policy_app.command("simulate")
def policy_simulate(
    file: Path,
    leads: Annotated[Path, typer.Option("--leads", help="Leads to replay: .jsonl (one JSON object a line) or .csv.")],
    against: Annotated[Path | None, typer.Option("--against", help="The policy in force now, to compare.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The report as JSON on stdout, for machines.")] = False,
    start: Annotated[str | None, typer.Option(help="Arrival of leads without received_at (ISO; default next Monday "
                                                   "09:00 in the policy's time zone).")] = None,
    spacing: Annotated[str, typer.Option(help="Gap between leads without received_at.")] = "1m",
    close_after: Annotated[str, typer.Option(help="A lead is closed (no longer open) this long after assignment; "
                                                  "'never' keeps all open.")] = "2d",
    top: Annotated[int, typer.Option(help="How many owner changes to list with --against.")] = 10,
) -> None:
    """Replay leads through the policy: share per rep and team vs fair share, capacity, SLA risk,
    unassigned leads, and with --against who gains and loses leads."""
    import json
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from services.router.simulation import simulate
    from shared.clock import system_clock
    from shared.policy import parse_duration

    policy = _policy_from(file)
    baseline = _policy_from(against) if against is not None else None
    if not leads.exists():
        err.print(f"[red]No such leads file: {leads}[/red]")
        raise typer.Exit(2)
    tz = ZoneInfo(policy.timezone)
    try:
        gap = parse_duration(spacing)
        closing = None if close_after.strip().lower() == "never" else parse_duration(close_after)
        if start:
            first = datetime.fromisoformat(start)
            first = first if first.tzinfo else first.replace(tzinfo=tz)
        else:
            today = system_clock().astimezone(tz).date()
            monday = today + timedelta(days=(7 - today.weekday()) % 7 or 7)
            first = datetime(monday.year, monday.month, monday.day, 9, tzinfo=tz)
    except ValueError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None

    total = _count_lines(leads)
    rejected: list[tuple[int, str]] = []
    with Progress(TextColumn("simulating"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=err, transient=True, disable=not err.is_terminal) as bar:
        task = bar.add_task("leads", total=total)
        report = simulate(policy, _prepared(leads, total, rejected, tz), start=first, spacing=gap,
                          against=baseline, close_after=closing, top=top,
                          progress=lambda done: bar.update(task, completed=done + len(rejected)))
    if as_json:
        data = report.to_dict()
        data["rejected"] = len(rejected)
        print(json.dumps(data, ensure_ascii=False, indent=2))
        return
    for line, reason in rejected[:20]:
        err.print(f"[yellow]line {line}:[/yellow] {_escaped(reason)}")
    if len(rejected) > 20:
        err.print(f"… and {len(rejected) - 20} more rejected leads")
    _render_simulation(report, file.name, against.name if against else None, len(rejected))


def _render_simulation(report: Any, name: str, against: str | None, rejected: int) -> None:
    run, base = report.run, report.baseline
    span = ""
    if report.first_at and report.last_at:
        span = f" from {report.first_at:%Y-%m-%d %H:%M} to {report.last_at:%Y-%m-%d %H:%M} UTC"
    out.print(f"[bold]{name}[/bold]: {report.leads} leads{span}"
              + (f" ({rejected} rejected as intake would)" if rejected else ""))
    ratio = "∞ (a covering rep got none)" if run.max_min_ratio is None else f"{run.max_min_ratio:.2f}"
    out.print(f"assigned {run.assigned}, unassigned {run.unassigned_total}; max/min {ratio}, Gini {run.gini:.3f}; "
              f"SLA at risk {run.sla_at_risk}; capacity breaches {run.capacity_breaches}, "
              f"off-hours assignments {run.off_hours_assignments}")

    def pct(value: float) -> str:
        return f"{value * 100:.1f}%"

    before = {stats.rep: stats for stats in base.reps} if base else {}
    reps = Table("rep", "team", "leads", "share", "fair", "vs fair", "SLA risk", "breaches",
                 *(("before", "Δ") if base else ()), title="Per rep", title_justify="left")
    for stats in run.reps:
        row = [stats.rep, stats.team, str(stats.received), pct(stats.share), pct(stats.fair_share),
               "-" if stats.vs_fair is None else f"{stats.vs_fair:.2f}", str(stats.sla_at_risk),
               str(stats.capacity_breaches + stats.off_hours)]
        if base:
            was = before[stats.rep].received if stats.rep in before else 0
            row += [str(was), f"{stats.received - was:+d}"]
        reps.add_row(*row)
    out.print(reps)
    teams = Table("team", "received", "share", "fair share", title="Per team", title_justify="left")
    for team in run.teams:
        teams.add_row(team.team, str(team.received), pct(team.share), pct(team.fair_share))
    out.print(teams)
    rules = Table("rule", "leads", *(("before",) if base else ()), title="Rule hits", title_justify="left")
    for rule, count in run.rule_hits.items():
        rules.add_row(rule, str(count), *((str(base.rule_hits.get(rule, 0)),) if base else ()))
    out.print(rules)
    if run.unassigned:
        queues = Table("queue", "leads", title="Unassigned", title_justify="left")
        for queue, count in run.unassigned.items():
            queues.add_row(queue, str(count))
        out.print(queues)
    if report.changes is not None:
        out.print(f"[bold]{report.changes.changed}[/bold] of {report.leads} leads change owner against {against}")
        if report.changes.moves:
            moves = Table("from", "to", "leads", title="Most common moves", title_justify="left")
            for old, new, count in report.changes.moves:
                moves.add_row(_escaped(old), _escaped(new), str(count))
            out.print(moves)


@demo_app.command("leads")
def demo_leads(
    count: Annotated[int, typer.Argument(help="How many leads.")],
    seed: Annotated[int, typer.Option(help="The same seed gives the same leads.")] = 0,
    per_day: Annotated[int, typer.Option(help="Leads arriving on a weekday (a fifth of that at weekends).")] = 200,
) -> None:
    """Realistic synthetic leads as JSON lines (the POST /v1/leads body plus source and received_at)."""
    import orjson

    from services.router.demo_leads import generate_leads

    if count < 0 or per_day < 1:
        err.print("[red]COUNT must be 0 or more and --per-day at least 1.[/red]")
        raise typer.Exit(2)
    write = sys.stdout.buffer.write
    batch: list[bytes] = []
    for lead in generate_leads(count, seed, per_day=per_day):
        batch.append(orjson.dumps(lead))
        if len(batch) >= 1000:
            write(b"\n".join(batch) + b"\n")
            batch.clear()
    if batch:
        write(b"\n".join(batch) + b"\n")
    sys.stdout.buffer.flush()


import_app = typer.Typer(help="Bring leads in from files.", no_args_is_help=True)
app.add_typer(import_app, name="import")


@import_app.command("csv")
def import_csv_command(
    file: Path,
    source: Annotated[str, typer.Option(help="The lead source the rows are recorded under.")],
    data_dir: DataDir = None,
) -> None:
    """Import leads from a CSV file (header row: email, phone, name, company, …; other columns
    become attributes). Re-importing the same file adds nothing twice."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from services.intake.csv_import import count_rows, import_csv

    if not file.exists():
        err.print(f"[red]No such file: {file}[/red]")
        raise typer.Exit(2)
    total = count_rows(file)

    async def work(runtime: Any) -> Any:
        async with runtime.store.read() as uow:
            if await uow.source_by_name(source) is None:
                err.print(f"[red]No source named '{source}'. Create it with: leadrelay sources add {source}[/red]")
                raise typer.Exit(2)
        with Progress(TextColumn("importing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                      console=err, transient=True) as bar:
            task = bar.add_task("rows", total=total)
            try:
                return await import_csv(runtime, file, source, lambda: bar.advance(task))
            finally:
                await runtime.bus.stop()

    report = run_async(_with_runtime(settings_for(data_dir), work))
    for line, reason in report.rejected[:50]:
        err.print(f"[yellow]line {line}:[/yellow] {reason}")
    if len(report.rejected) > 50:
        err.print(f"… and {len(report.rejected) - 50} more rejected rows")
    out.print(f"{report.accepted} leads accepted, {len(report.rejected)} rows rejected")
    if report.rejected and not report.accepted:
        raise typer.Exit(1)


@dlq_app.command("list")
def dlq_list(data_dir: DataDir = None, all_: Annotated[bool, typer.Option("--all", help="Include redriven.")] = False
             ) -> None:
    """Dead-lettered events: which consumer gave up on what, and why."""

    async def work(runtime: Any) -> list[Any]:
        async with runtime.store.read() as uow:
            return await uow.list_dead_letters(include_redriven=all_)

    rows = run_async(_with_runtime(settings_for(data_dir), work))
    table = Table("id", "consumer", "topic", "event id", "when", "error")
    for row in rows:
        table.add_row(str(row.id), row.consumer, row.topic, row.event_id or "-", str(row.created_at)[:19],
                      row.error[:120])
    out.print(table)
    err.print(f"{len(rows)} dead-lettered event(s)")


@dlq_app.command("redrive")
def dlq_redrive(ids: Annotated[list[int] | None, typer.Argument(help="Dead-letter ids (default: all).")] = None,
                data_dir: DataDir = None) -> None:
    """Send dead-lettered events back to their topic for the consumer that gave up (after a fix)."""
    from shared.redrive import redrive

    count = run_async(_with_runtime(settings_for(data_dir), lambda runtime: redrive(runtime.store, ids)))
    out.print(f"{count} event(s) redriven")


@demo_app.command("chat-sink")
def demo_chat_sink(port: Annotated[int, typer.Option(help="Listen port (the example policy uses 9009).")] = 9009
                   ) -> None:
    """A local stand-in for Slack: prints every message the example policy's reps receive."""
    import uvicorn
    from rich.panel import Panel

    from services.notifier.chat_sink import create_sink, message_lines

    def show(recipient: str, payload: dict[str, Any]) -> None:
        out.print(Panel("\n".join(message_lines(payload)), title=f"to {recipient}", title_align="left",
                        subtitle=payload.get("text", "")[:80]))

    err.print(f"chat sink on http://127.0.0.1:{port}/slack/<recipient> (Ctrl-C stops it)")
    uvicorn.run(create_sink(show), host="127.0.0.1", port=port, log_level="warning")


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
