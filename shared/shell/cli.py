"""The ``leadrelay`` command line."""

from __future__ import annotations

import asyncio
import shlex
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table
from typer.core import TyperArgument, TyperCommand, TyperGroup

from leadrelay.shared import logging as logs
from leadrelay.shared.settings import Settings

# --- help that names values ----------------------------------------------------------------------
# Typer (0.29) labels every parameter with its Python type: `--json <bool>`, `--kind <str>`,
# `sources add [OPTIONS] {name}`. Help here names what a value is instead: an option shows its
# metavar (FILE, DIR, N), a flag nothing, an argument its name in capitals.


class _NamedArgument(TyperArgument):
    """An argument shown by its name alone: ``FILE``, ``[ID...]``."""

    def display_type_rich(self, ctx: Any) -> str | None:
        return None

    def get_usage_pieces(self, ctx: Any) -> list[str]:
        name = (self.metavar or "") + ("..." if self.nargs != 1 else "")
        return [name if self.required else f"[{name}]"]


def _name_values(params: list[Any]) -> list[Any]:
    for param in params:
        if isinstance(param, TyperArgument):
            param.metavar = param.metavar or (param.name or "").upper()
            param.__class__ = _NamedArgument  # typer offers no argument class to choose
        elif param.metavar is None:
            param.metavar = "" if getattr(param, "is_flag", False) else (param.name or "").upper()
    return params


class _NamedValues:
    def get_params(self, ctx: Any) -> list[Any]:
        return _name_values(super().get_params(ctx))  # type: ignore[misc]


class _Command(_NamedValues, TyperCommand):
    pass


class _Group(_NamedValues, TyperGroup):
    pass


class _Typer(typer.Typer):
    """A typer app whose groups and commands name their values in help."""

    def __init__(self, **options: Any) -> None:
        super().__init__(cls=_Group, no_args_is_help=True, rich_markup_mode="rich", **options)

    def command(self, *args: Any, **options: Any) -> Any:
        return super().command(*args, cls=_Command, **options)


app = _Typer(help="Leadrelay: event-driven, SLA-aware lead routing.", pretty_exceptions_enable=False)
sources_app = _Typer(help="Lead sources and their API keys: add, list, rotate, revoke.")
tokens_app = _Typer(help="Bearer tokens for admins, managers and reps: create, list, revoke.")
reps_app = _Typer(help="Sales reps: list the current policy's, make a rep's token.")
policy_app = _Typer(help="The routing policy: validate, test, diff, simulate, apply, schema.")
demo_app = _Typer(help="Synthetic data for trying Leadrelay.")
dlq_app = _Typer(help="Dead-lettered events.")
app.add_typer(sources_app, name="sources")
app.add_typer(tokens_app, name="tokens")
app.add_typer(reps_app, name="reps")
app.add_typer(policy_app, name="policy")
app.add_typer(demo_app, name="demo")
app.add_typer(dlq_app, name="dlq")

out = Console()
err = Console(stderr=True)

# Tables piped to a file or another program are this wide rather than 80 columns, so no cell is cut.
_PIPE_WIDTH = 200

DataDir = Annotated[Path | None, typer.Option("--data-dir", metavar="DIR",
                                              help="Embedded mode's data folder (default ./leadrelay-data).")]


def _show_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        print(f"leadrelay {version('leadrelay')}")
        raise typer.Exit()


@app.callback()
def _main_options(
    version: Annotated[bool, typer.Option("--version", callback=_show_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    # No docstring: the app's help above is the text `leadrelay --help` shows.
    pass


def _tables() -> Console:
    """Where tables go: the terminal as it is; a pipe or a file gets a generous width."""
    return out if out.is_terminal else Console(width=_PIPE_WIDTH)


def _data_dir_option(data_dir: Path | None) -> str:
    """The ``--data-dir`` option to repeat in a suggested command ('' for the default folder)."""
    return f" --data-dir {shlex.quote(str(data_dir))}" if data_dir is not None else ""


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

    from leadrelay.shared.shell.bootstrap import build_runtime

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
    policy: Annotated[Path | None, typer.Option(metavar="FILE",
                                                help="Policy YAML (default: the bundled example).")] = None,
    data_dir: DataDir = None,
    host: Annotated[str | None, typer.Option(metavar="HOST", help="Listen address (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(metavar="PORT", help="Listen port (default 8080).")] = None,
) -> None:
    """Embedded mode: intake, scoring, router and notifier in one process on SQLite, no Kafka or
    PostgreSQL needed (the outbox table is the event log, so the distributed mode's relay has no work)."""
    settings = settings_for(data_dir, host=host, port=port, mode="embedded")
    if policy is not None and not policy.exists():
        err.print(f"[red]No such policy file: {policy}[/red]")
        raise typer.Exit(2)
    if problem := _cannot_listen(settings.host, settings.port):
        err.print(f"[red]{_escaped(problem)}[/red]", soft_wrap=True)
        raise typer.Exit(2)
    logs.configure(settings.log_level, settings.log_json)

    async def main() -> None:
        from leadrelay.shared.shell.bootstrap import (
            build_app,
            build_runtime,
            install_stop_signals,
            prepare_embedded,
            run_services,
        )

        runtime = build_runtime(settings)
        version, demo_key = await prepare_embedded(runtime, policy)
        stop = asyncio.Event()
        install_stop_signals(stop)
        err.print(f"[bold green]Leadrelay[/bold green] embedded on {settings.base_url} "
                  f"(policy v{version}, data in {settings.data_dir})")
        if demo_key:
            err.print("Demo source 'demo' created. Its API key (shown once):")
            print(demo_key, flush=True)
        else:
            err.print(_escaped(await _demo_key_hint(runtime, settings.data_dir)), soft_wrap=True)
        await run_services(runtime, ("scoring", "router", "notifier"), stop, app=build_app(runtime))

    run_async(main())


def _cannot_listen(host: str, port: int) -> str | None:
    """Why the API could not listen on host:port, or None. Checked before anything is created:
    a busy port found by the server itself comes after the demo key is printed, in a traceback.
    The probe binds as uvicorn does (SO_REUSEADDR), so a port a stopped run left in TIME_WAIT is free."""
    import errno
    import socket

    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            return (f"Port {port} on {host} is in use (is Leadrelay running already?): "
                    "stop that process or choose another --port.")
        return f"Cannot listen on {host}:{port}: {exc.strerror or exc}. Check --host and --port."
    return None


async def _demo_key_hint(runtime: Any, data_dir: Path) -> str:
    """One line for a restart, which prints no key: how to get one for the demo source."""
    async with runtime.store.read() as uow:
        demo = await uow.source_by_name("demo")
    where = _data_dir_option(data_dir.resolve())
    if demo is not None and demo.revoked_at is None:
        return (f"Source keys are shown once, when made. A new key for 'demo' (the old one stops working): "
                f"leadrelay sources rotate demo{where}")
    return f"Source keys are shown once, when made. For a demo source and its key: leadrelay sources add demo{where}"


@app.command()
def serve(service: Annotated[str, typer.Argument(help="intake | scoring | router | notifier | relay")]) -> None:
    """Distributed mode: run one service; configuration from LEADRELAY_* environment variables."""
    from leadrelay.shared.shell.bootstrap import SERVICES

    if service not in SERVICES:
        err.print(f"[red]Unknown service '{service}'. Choose one of: {', '.join(SERVICES)}[/red]")
        raise typer.Exit(2)
    settings = settings_for(None, mode="distributed")
    logs.configure(settings.log_level, settings.log_json)

    async def main() -> None:
        from leadrelay.shared.shell.app import create_app
        from leadrelay.shared.shell.bootstrap import build_app, build_runtime, install_stop_signals, run_services

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
    from leadrelay.shared.adapters.sql.migrate import upgrade

    settings = Settings()
    if not settings.database_url:
        err.print("[red]Set LEADRELAY_DATABASE_URL (postgresql+asyncpg://…); embedded mode needs no migration.[/red]")
        raise typer.Exit(2)
    upgrade(settings.database_url)
    err.print("database at the newest schema")


topics_app = _Typer(help="Kafka topics.")
app.add_typer(topics_app, name="topics")


@topics_app.command("ensure")
def topics_ensure() -> None:
    """Create the pipeline's topics and dead-letter topics (LEADRELAY_KAFKA_BOOTSTRAP)."""
    from leadrelay.shared.adapters.kafka_bus import KafkaBus
    from leadrelay.shared.topics import all_topics

    settings = Settings()
    names = all_topics()
    bus = KafkaBus(settings.kafka_bootstrap, partitions=settings.kafka_partitions, prefix=settings.topic_prefix)
    run_async(bus.ensure_topics(names))
    err.print(f"{len(names)} topics present on {settings.kafka_bootstrap}")


@sources_app.command("add")
def sources_add(
    name: Annotated[str, typer.Argument(help="The source's name; a revoked source's name may be used again.")],
    data_dir: DataDir = None,
    kind: Annotated[str, typer.Option(metavar="KIND", help="api | meta | google_ads | csv")] = "api",
    setting: Annotated[list[str] | None, typer.Option(
        "--set", metavar="KEY=VALUE",
        help="Platform settings (meta: app_secret, verify_token, page_token; google_ads: google_key). "
             "A value 'env:NAME' is read from the environment at use.")] = None,
) -> None:
    """Create a lead source and print its API key once (the last line of stdout is the bare key)."""
    from leadrelay.shared.shell.bootstrap import SourceExists, create_source

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
        try:
            return await create_source(runtime, name, kind, config)
        except SourceExists:
            err.print(f"[red]A source named '{name}' exists already.[/red] For a new key: "
                      f"leadrelay sources rotate {name}{_data_dir_option(data_dir)}", soft_wrap=True)
            raise typer.Exit(1) from None

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


@sources_app.command("rotate")
def sources_rotate(name: Annotated[str, typer.Argument(help="The source's name.")], data_dir: DataDir = None) -> None:
    """Give a source a new API key and print it once (the last line of stdout). The old key is
    refused at once; the source keeps its name, kind and settings, so its leads keep their source."""
    from leadrelay.shared.shell.bootstrap import rotate_source_key

    async def work(runtime: Any) -> tuple[Any, str | None]:
        key = await rotate_source_key(runtime, name)
        if key is not None:
            return None, key
        async with runtime.store.read() as uow:
            return await uow.source_by_name(name), None

    existing, key = run_async(_with_runtime(settings_for(data_dir), work))
    if key is None:
        again = f"leadrelay sources add {name}{_data_dir_option(data_dir)}"
        if existing is None:
            err.print(f"[red]No source named '{name}'.[/red] Create it with: {again}", soft_wrap=True)
        else:
            err.print(f"[red]Source '{name}' is revoked.[/red] To use the name again: {again} "
                      "(with its --kind and --set)", soft_wrap=True)
        raise typer.Exit(1)
    err.print(f"Source '{name}' has a new key; the old one is refused from now on. "
              "Keep this key secret; it cannot be shown again:")
    print(key)


@sources_app.command("revoke")
def sources_revoke(name: Annotated[str, typer.Argument(help="The source's name.")], data_dir: DataDir = None) -> None:
    """Revoke a source's key: its posts are refused from now on."""

    async def work(runtime: Any) -> bool:
        async with runtime.store.transaction() as uow:
            return await uow.revoke_source(name)

    if not run_async(_with_runtime(settings_for(data_dir), work)):
        err.print(f"[red]No active source named '{name}'.[/red]")
        raise typer.Exit(1)
    err.print(f"Source '{name}' revoked.")


def _create_token(data_dir: Path | None, role: str, rep: str | None) -> str:
    from leadrelay.shared.security import TOKEN_PREFIX, hash_secret, new_secret, visible_prefix

    token = new_secret(TOKEN_PREFIX)

    async def work(runtime: Any) -> None:
        async with runtime.store.transaction() as uow:
            await uow.add_token(hash_secret(token), visible_prefix(token), role, rep)

    run_async(_with_runtime(settings_for(data_dir), work))
    return token


@tokens_app.command("create")
def tokens_create(
    role: Annotated[str, typer.Option(metavar="ROLE", help="admin | manager | rep")],
    rep: Annotated[str | None, typer.Option(metavar="ID", help="The rep's (or manager's) id, for rep and manager "
                                                               "tokens.")] = None,
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


@tokens_app.command("list")
def tokens_list(data_dir: DataDir = None) -> None:
    """List bearer tokens: prefix, role, rep, created, revoked (never the token itself)."""

    async def work(runtime: Any) -> list[Any]:
        async with runtime.store.read() as uow:
            return await uow.list_tokens()

    table = Table("prefix", "role", "rep", "created", "revoked")
    for row in run_async(_with_runtime(settings_for(data_dir), work)):
        table.add_row(_escaped(row.key_prefix) + "…", row.role, _escaped(row.rep_id or "-"), str(row.created_at)[:19],
                      str(row.revoked_at or "")[:19])
    _tables().print(table)


@tokens_app.command("revoke")
def tokens_revoke(
    prefix: Annotated[str, typer.Argument(help="The token's prefix as leadrelay tokens list shows it (lrt_…), "
                                               "or the whole token.")],
    data_dir: DataDir = None,
) -> None:
    """Revoke a bearer token: requests that carry it are refused (401) from now on."""
    from leadrelay.shared.security import hash_secret

    given = prefix.strip().removesuffix("…").removesuffix("...")

    async def work(runtime: Any) -> list[Any]:
        async with runtime.store.transaction() as uow:
            active = [row for row in await uow.list_tokens() if row.revoked_at is None]
            matches = [row for row in active if row.token_hash == hash_secret(given)] or [
                row for row in active if given.startswith(row.key_prefix)]
            if len(matches) == 1:
                await uow.revoke_token(matches[0].token_hash)
            return matches

    matches = run_async(_with_runtime(settings_for(data_dir), work))
    if not matches:
        err.print(f"[red]No active token with the prefix '{_escaped(given)}'[/red] (see leadrelay tokens list).")
        raise typer.Exit(1)
    if len(matches) > 1:
        err.print(f"[red]{len(matches)} active tokens have the prefix '{_escaped(given)}': nothing revoked.[/red] "
                  "Give the whole token to revoke one.", soft_wrap=True)
        raise typer.Exit(1)
    role, rep = matches[0].role, matches[0].rep_id
    err.print(f"Token {_escaped(matches[0].key_prefix)}… ({role}{f' {_escaped(rep)}' if rep else ''}) revoked.")


@reps_app.command("list")
def reps_list(data_dir: DataDir = None) -> None:
    """The current policy's reps: id, team, manager, time zone and chat platform (never a webhook)."""

    async def work(runtime: Any) -> Any:
        async with runtime.store.read() as uow:
            return await uow.current_policy()

    current = run_async(_with_runtime(settings_for(data_dir), work))
    if current is None:
        err.print("[red]No policy applied yet.[/red] Apply one with: leadrelay policy apply FILE"
                  f"{_data_dir_option(data_dir)} (leadrelay run applies the bundled example)", soft_wrap=True)
        raise typer.Exit(1)
    version, policy = current
    table = Table("rep", "team", "manager", "time zone", "chat", title=f"Reps of policy v{version}",
                  title_justify="left")
    for rep in policy.reps:
        table.add_row(_escaped(rep.id), _escaped(rep.team), _escaped(policy.team(rep.team).manager),
                      rep.timezone or f"{policy.timezone} (policy's)", rep.chat.platform if rep.chat else "-")
    _tables().print(table)


@reps_app.command("token")
def reps_token(rep: Annotated[str, typer.Argument(help="The rep's id.")], data_dir: DataDir = None) -> None:
    """Create a rep's bearer token and print it once (the same as: leadrelay tokens create --role rep --rep REP)."""
    print(_create_token(data_dir, "rep", rep))


@policy_app.command("validate")
def policy_validate(file: Annotated[Path, typer.Argument(help="The policy YAML.")]) -> None:
    """Check a policy file; every problem is printed with its path."""
    policy = _policy_from(file)
    out.print(f"[green]{file}: valid[/green] — {len(policy.reps)} reps, {len(policy.teams)} teams, "
              f"{len(policy.rules)} rules")


@policy_app.command("apply")
def policy_apply(file: Annotated[Path, typer.Argument(help="The policy YAML.")], data_dir: DataDir = None) -> None:
    """Store the file as a new policy version; running services pick it up for new leads."""
    from leadrelay.shared.shell.bootstrap import apply_policy

    _policy_from(file)  # a missing or invalid file is reported before touching the database

    async def work(runtime: Any) -> tuple[int, bool]:
        return await apply_policy(runtime, file.read_text(encoding="utf-8"))

    version, created = run_async(_with_runtime(settings_for(data_dir), work))
    out.print(f"policy v{version} {'applied' if created else 'unchanged (same as the current version)'}")


def _policy_from(file: Path, what: str = "policy") -> Any:
    """Loads a policy file for a command, or exits: 2 when missing, 1 when invalid."""
    from leadrelay.shared.policy import PolicyError, load_policy

    try:
        return load_policy(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        err.print(f"[red]No such {what} file: {file}[/red]")
        raise typer.Exit(2) from None
    except PolicyError as exc:
        err.print(f"[red]{file}: invalid policy[/red]\n{_escaped(str(exc))}", soft_wrap=True)
        raise typer.Exit(1) from None


@policy_app.command("schema")
def policy_schema() -> None:
    """Print the policy file's JSON Schema (for editors: yaml-language-server)."""
    import json
    import warnings

    from leadrelay.shared.policy import Policy

    with warnings.catch_warnings():  # defaults pydantic cannot show in a schema are left out, as they should be
        warnings.simplefilter("ignore")
        schema = Policy.json_schema()
    print(json.dumps(schema, indent=2, ensure_ascii=False))


@policy_app.command("test")
def policy_test(
    file: Annotated[Path, typer.Argument(help="The policy YAML.")],
    cases: Annotated[Path, typer.Option("--cases", metavar="FILE",
                                        help="The cases YAML: leads and where they must go.")],
) -> None:
    """Run a policy's own test cases; exit 1 if any fails (the explanation is shown)."""
    from rich.panel import Panel

    from leadrelay.shared.lab.cases import CasesError, load_cases, run_cases

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
def policy_diff(old: Annotated[Path, typer.Argument(help="The policy YAML in force.")],
                new: Annotated[Path, typer.Argument(help="The proposed policy YAML.")]) -> None:
    """What changes from OLD to NEW, in words."""
    from leadrelay.shared.lab.diff import diff_policies

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
        from leadrelay.services.intake.csv_import import rows

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

    from leadrelay.services.intake.validation import parse_lead, to_contact
    from leadrelay.shared.lab.simulation import SimLead
    from leadrelay.shared.policy.facts import lead_facts
    from leadrelay.shared.problems import Problem

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


# What the simulation's figures mean: printed under its tables and in its --help.
_SIMULATION_TERMS = (
    ("share", "the rep's part of the assigned leads"),
    ("fair", "their part if every lead were split equally among the reps its rule could pick"),
    ("vs fair", "share ÷ fair; 1.00 is exactly fair, 2.00 twice the fair part, 0.50 half"),
    ("max/min", "the most leads a rep got ÷ the fewest, among reps with a fair part (∞ when one got none)"),
    ("Gini", "how unevenly those reps got leads: 0 all alike, towards 1 all to a few"),
    ("SLA risk", "leads whose first-touch deadline falls while the owner is off shift or away"),
    ("breaches", "assignments over a rep's capacity or outside their hours (should be 0)"),
)


@policy_app.command("simulate", help=(
    "Replay leads through the policy: share per rep and team vs fair share, capacity, SLA risk, unassigned "
    "leads, and with --against who gains and loses leads.\n\nWhat the figures mean:\n"
    + "\n".join(f"  [bold]{term}[/bold]: {meaning}" for term, meaning in _SIMULATION_TERMS)))
def policy_simulate(
    file: Annotated[Path, typer.Argument(help="The policy YAML to try.")],
    leads: Annotated[Path, typer.Option("--leads", metavar="FILE",
                                        help="Leads to replay: .jsonl (one JSON object a line) or .csv.")],
    against: Annotated[Path | None, typer.Option("--against", metavar="FILE",
                                                 help="The policy in force now, to compare.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The report as JSON on stdout, for machines.")] = False,
    start: Annotated[str | None, typer.Option(metavar="TIME", help="Arrival of leads without received_at (ISO; "
                                              "default next Monday 09:00 in the policy's time zone).")] = None,
    spacing: Annotated[str, typer.Option(metavar="DURATION", help="Gap between leads without received_at.")] = "1m",
    close_after: Annotated[str, typer.Option(metavar="DURATION", help="A lead is closed (no longer open) this long "
                                             "after assignment; 'never' keeps all open.")] = "2d",
    top: Annotated[int, typer.Option(metavar="N", help="How many owner changes to list with --against.")] = 10,
) -> None:
    # The help (with the legend of the figures) is in the decorator, built from _SIMULATION_TERMS.
    import json
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from leadrelay.shared.clock import system_clock
    from leadrelay.shared.lab.simulation import simulate
    from leadrelay.shared.policy import parse_duration

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
    console = _tables()
    run, base = report.run, report.baseline
    span = ""
    if report.first_at and report.last_at:
        span = f" from {report.first_at:%Y-%m-%d %H:%M} to {report.last_at:%Y-%m-%d %H:%M} UTC"
    console.print(f"[bold]{name}[/bold]: {report.leads} leads{span}"
                  + (f" ({rejected} rejected as intake would)" if rejected else ""))
    ratio = "∞ (a covering rep got none)" if run.max_min_ratio is None else f"{run.max_min_ratio:.2f}"
    console.print(f"assigned {run.assigned}, unassigned {run.unassigned_total}; max/min {ratio}, "
                  f"Gini {run.gini:.3f}; SLA at risk {run.sla_at_risk}; capacity breaches {run.capacity_breaches}, "
                  f"off-hours assignments {run.off_hours_assignments}")

    def pct(value: float) -> str:
        return f"{value * 100:.1f}%"

    def table(title: str, *names: str, whole: int = 1) -> Table:
        """The first ``whole`` columns hold names (rep ids, teams, rules): never wrapped or cut."""
        grid = Table(title=title, title_justify="left")
        for position, column in enumerate(names):
            grid.add_column(column, no_wrap=position < whole)
        return grid

    def show(grid: Table) -> None:
        from rich import box

        wanted = console.measure(grid, options=console.options.update(max_width=10 * _PIPE_WIDTH)).maximum
        if wanted > console.width:  # a narrow terminal: fewer rules rather than cut figures
            grid.box, grid.show_edge, grid.padding = box.SIMPLE_HEAD, False, (0, 0)
        console.print(grid)

    before = {stats.rep: stats for stats in base.reps} if base else {}
    reps = table("Per rep", "rep", "team", "leads", "share", "fair", "vs fair", "SLA risk", "breaches",
                 *(("before", "Δ") if base else ()), whole=2)
    for stats in run.reps:
        row = [_escaped(stats.rep), _escaped(stats.team), str(stats.received), pct(stats.share),
               pct(stats.fair_share), "-" if stats.vs_fair is None else f"{stats.vs_fair:.2f}",
               str(stats.sla_at_risk), str(stats.capacity_breaches + stats.off_hours)]
        if base:
            was = before[stats.rep].received if stats.rep in before else 0
            row += [str(was), f"{stats.received - was:+d}"]
        reps.add_row(*row)
    show(reps)
    legend = Table.grid(padding=(0, 2))
    legend.add_column(no_wrap=True, style="bold")
    legend.add_column(style="dim")
    for term, meaning in _SIMULATION_TERMS:
        legend.add_row(term, meaning)
    console.print(legend)
    teams = table("Per team", "team", "received", "share", "fair share")
    for team in run.teams:
        teams.add_row(_escaped(team.team), str(team.received), pct(team.share), pct(team.fair_share))
    show(teams)
    rules = table("Rule hits", "rule", "leads", *(("before",) if base else ()))
    for rule, count in run.rule_hits.items():
        rules.add_row(_escaped(rule), str(count), *((str(base.rule_hits.get(rule, 0)),) if base else ()))
    show(rules)
    if run.unassigned:
        queues = table("Unassigned", "queue", "leads")
        for queue, count in run.unassigned.items():
            queues.add_row(_escaped(queue), str(count))
        show(queues)
    if report.changes is not None:
        console.print(f"[bold]{report.changes.changed}[/bold] of {report.leads} leads change owner against {against}")
        if report.changes.moves:
            moves = table("Most common moves", "from", "to", "leads", whole=2)
            for old, new, count in report.changes.moves:
                moves.add_row(_escaped(old), _escaped(new), str(count))
            show(moves)


@demo_app.command("leads")
def demo_leads(
    count: Annotated[int, typer.Argument(help="How many leads.")],
    seed: Annotated[int, typer.Option(metavar="N", help="The same seed gives the same leads.")] = 0,
    per_day: Annotated[int, typer.Option(metavar="N", help="Leads arriving on a weekday (a fifth of that at "
                                                           "weekends).")] = 200,
) -> None:
    """Realistic synthetic leads as JSON lines (the POST /v1/leads body plus source and received_at)."""
    import orjson

    from leadrelay.shared.lab.demo_leads import generate_leads

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


import_app = _Typer(help="Bring leads in from files.")
app.add_typer(import_app, name="import")


@import_app.command("csv")
def import_csv_command(
    file: Annotated[Path, typer.Argument(help="The CSV file.")],
    source: Annotated[str, typer.Option(metavar="NAME", help="The lead source the rows are recorded under.")],
    data_dir: DataDir = None,
) -> None:
    """Import leads from a CSV file (header row: email, phone, name, company, …; other columns
    become attributes). Re-importing the same file adds nothing twice."""
    from leadrelay.services.intake.csv_import import count_rows, import_csv

    if not file.exists():
        err.print(f"[red]No such file: {file}[/red]")
        raise typer.Exit(2)
    settings = settings_for(data_dir)
    if settings.mode == "embedded":
        # Importing into a database nobody runs would look like success and route nothing.
        if not settings.embedded_database.exists():
            err.print(f"[red]No Leadrelay database in {_escaped(str(settings.data_dir))}.[/red] Point --data-dir at "
                      "the folder leadrelay run uses (or start leadrelay run there first).", soft_wrap=True)
            raise typer.Exit(2)
        err.print(f"Importing into {_escaped(str(settings.data_dir.resolve()))}", soft_wrap=True, highlight=False)
    total = count_rows(file)

    async def work(runtime: Any) -> Any:
        async with runtime.store.read() as uow:
            if await uow.source_by_name(source) is None:
                err.print(f"[red]No source named '{source}'. Create it with: leadrelay sources add {source}"
                          f"{_data_dir_option(data_dir)}[/red]", soft_wrap=True)
                raise typer.Exit(2)
        with _row_progress(total, "importing", "imported") as advance:
            try:
                return await import_csv(runtime, file, source, advance)
            finally:
                await runtime.bus.stop()

    report = run_async(_with_runtime(settings, work))
    for line, reason in report.rejected[:50]:
        err.print(f"[yellow]line {line}:[/yellow] {_escaped(reason)}")
    if len(report.rejected) > 50:
        err.print(f"… and {len(report.rejected) - 50} more rejected rows")
    out.print(f"leads: {report.new} new, {report.already} already imported; "
              f"{_count(len(report.rejected), 'row')} rejected", highlight=False)
    if report.rejected and not report.accepted:
        raise typer.Exit(1)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


# Rows between two progress lines when stderr is not a terminal (a log file, CI).
_PROGRESS_EVERY = 1000


@contextmanager
def _row_progress(total: int, doing: str, done_verb: str) -> Iterator[Callable[[], None]]:
    """Yields the callback to call once a row: a live bar on a terminal; elsewhere a line every
    _PROGRESS_EVERY rows and one at the end ("imported 1000/5000 rows"), so a log shows progress."""
    if err.is_terminal:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        with Progress(TextColumn(doing), BarColumn(), MofNCompleteColumn(),
                      TimeRemainingColumn(), console=err, transient=True) as bar:
            task = bar.add_task("rows", total=total)
            yield lambda: bar.advance(task)
        return
    done = 0

    def advance() -> None:
        nonlocal done
        done += 1
        if done % _PROGRESS_EVERY == 0 or done == total:
            err.print(f"{done_verb} {done}/{_count(total, 'row')}", highlight=False)

    yield advance


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
def dlq_redrive(ids: Annotated[list[int] | None, typer.Argument(metavar="ID", help="Dead-letter ids (default: all)."
                                                                    )] = None,
                data_dir: DataDir = None) -> None:
    """Send dead-lettered events back to their topic for the consumer that gave up (after a fix)."""
    from leadrelay.shared.shell.redrive import redrive

    count = run_async(_with_runtime(settings_for(data_dir), lambda runtime: redrive(runtime.store, ids)))
    out.print(f"{count} event(s) redriven")


@demo_app.command("chat-sink")
def demo_chat_sink(port: Annotated[int, typer.Option(metavar="PORT", help="Listen port (the example policy uses "
                                                                             "9009).")] = 9009
                   ) -> None:
    """A local stand-in for Slack: prints every message the example policy's reps receive."""
    import uvicorn

    from leadrelay.services.notifier.chat_sink import create_sink, panel

    def show(recipient: str, payload: dict[str, Any]) -> None:
        out.print(panel(recipient, payload))

    err.print(f"chat sink on http://127.0.0.1:{port}/slack/<recipient> (Ctrl-C stops it)")
    uvicorn.run(create_sink(show), host="127.0.0.1", port=port, log_level="warning")


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
