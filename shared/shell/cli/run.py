"""Running Leadrelay: ``run`` (embedded), ``serve`` (one distributed service), ``migrate`` and
``topics ensure`` (distributed mode's database and Kafka topics)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer

from leadrelay.shared import logging as logs
from leadrelay.shared.clock import Clock, offset_clock, system_clock
from leadrelay.shared.settings import Settings
from leadrelay.shared.shell.cli.common import (
    DataDir,
    NamedTyper,
    data_dir_option,
    err,
    escaped,
    run_async,
    settings_for,
)

# Commands of the root app itself (`leadrelay run`); registered without a group name.
root_commands = NamedTyper()
topics_app = NamedTyper(help="Kafka topics.")


@root_commands.command()
def run(
    policy: Annotated[Path | None, typer.Option(metavar="FILE",
                                                help="Policy YAML (default: the bundled example).")] = None,
    data_dir: DataDir = None,
    host: Annotated[str | None, typer.Option(metavar="HOST", help="Listen address (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(metavar="PORT", help="Listen port (default 8080).")] = None,
    public_url: Annotated[str | None, typer.Option(
        "--public-url", metavar="URL",
        help="Where reps reach Leadrelay (LEADRELAY_PUBLIC_URL): chat messages' links and one-click actions "
             "point here.")] = None,
) -> None:
    """Embedded mode: intake, scoring, router and notifier in one process on SQLite, no Kafka or
    PostgreSQL needed (the outbox table is the event log, so the distributed mode's relay has no work)."""
    settings = settings_for(data_dir, host=host, port=port, public_url=public_url, mode="embedded")
    if policy is not None and not policy.exists():
        err.print(f"[red]No such policy file: {policy}[/red]")
        raise typer.Exit(2)
    if problem := _cannot_listen(settings.host, settings.port):
        err.print(f"[red]{escaped(problem)}[/red]", soft_wrap=True)
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

        runtime = build_runtime(settings, product_clock(settings))
        version, demo_key = await prepare_embedded(runtime, policy)
        stop = asyncio.Event()
        install_stop_signals(stop)
        err.print(f"[bold green]Leadrelay[/bold green] embedded on {settings.base_url} "
                  f"(policy v{version}, data in {settings.data_dir})")
        if not settings.public_url:
            err.print("[yellow]No public URL (--public-url or LEADRELAY_PUBLIC_URL): chat messages carry no "
                      "one-click action links, and say to act in Leadrelay instead.[/yellow]", soft_wrap=True)
        console = f"{settings.public_url or settings.base_url}".rstrip("/") + "/"
        if demo_key:
            # First start: a newcomer opens the console and signs in with this (the demo key stays
            # the last line on stdout, for scripts that take it with `tail -1`).
            err.print(f"Web console: {console} — sign in with this admin token (shown once):", soft_wrap=True)
            print(await _first_admin_token(runtime), flush=True)
            err.print("Demo source 'demo' created. Its API key (shown once):")
            print(demo_key, flush=True)
        else:
            where = data_dir_option(settings.data_dir.resolve())
            err.print(escaped(f"Web console: {console} — a sign-in token: leadrelay tokens create --role admin{where}"),
                      soft_wrap=True)
            err.print(escaped(await _demo_key_hint(runtime, settings.data_dir)), soft_wrap=True)
        await run_services(runtime, ("scoring", "router", "notifier"), stop, app=build_app(runtime))

    run_async(main())


def product_clock(settings: Settings) -> Clock:
    """The system clock, shifted when LEADRELAY_CLOCK_OFFSET_S is set (chaos runs only)."""
    return offset_clock(settings.clock_offset_s) if settings.clock_offset_s else system_clock


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


async def _first_admin_token(runtime: Any) -> str:
    """An admin token for the web console's sign-in, made on first start (stored as a hash)."""
    from leadrelay.shared.security import TOKEN_PREFIX, hash_secret, new_secret, visible_prefix

    token = new_secret(TOKEN_PREFIX)
    async with runtime.store.transaction() as uow:
        await uow.tokens.add(hash_secret(token), visible_prefix(token), "admin", None)
    return token


async def _demo_key_hint(runtime: Any, data_dir: Path) -> str:
    """One line for a restart, which prints no key: how to get one for the demo source."""
    async with runtime.store.read() as uow:
        demo = await uow.sources.by_name("demo")
    where = data_dir_option(data_dir.resolve())
    if demo is not None and demo.revoked_at is None:
        return (f"Source keys are shown once, when made. A new key for 'demo' (the old one stops working): "
                f"leadrelay sources rotate demo{where}")
    return f"Source keys are shown once, when made. For a demo source and its key: leadrelay sources add demo{where}"


@root_commands.command()
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

        runtime = build_runtime(settings, product_clock(settings), service=f"leadrelay-{service}")  # its name in traces
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


@root_commands.command()
def migrate() -> None:
    """Apply the database migrations (distributed mode; LEADRELAY_DATABASE_URL)."""
    from leadrelay.shared.adapters.sql.migrate import upgrade

    settings = Settings()
    if not settings.database_url:
        err.print("[red]Set LEADRELAY_DATABASE_URL (postgresql+asyncpg://…); embedded mode needs no migration.[/red]")
        raise typer.Exit(2)
    upgrade(settings.database_url)
    err.print("database at the newest schema")


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
