"""What the command groups share: the typer app class whose help names values, the consoles, the
``--data-dir`` option, settings and the runtime for a command, and markup escaping."""

from __future__ import annotations

import asyncio
import shlex
from pathlib import Path
from typing import Annotated, Any

import typer
import uvloop
from pydantic import ValidationError
from rich.console import Console
from typer.core import TyperArgument, TyperCommand, TyperGroup

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


class NamedTyper(typer.Typer):
    """A typer app whose groups and commands name their values in help."""

    def __init__(self, **options: Any) -> None:
        super().__init__(cls=_Group, no_args_is_help=True, rich_markup_mode="rich", **options)

    def command(self, *args: Any, **options: Any) -> Any:
        return super().command(*args, cls=_Command, **options)


out = Console()
err = Console(stderr=True)

# Tables piped to a file or another program are this wide rather than 80 columns, so no cell is cut.
PIPE_WIDTH = 200

DataDir = Annotated[Path | None, typer.Option("--data-dir", metavar="DIR",
                                              help="Embedded mode's data folder (default ./leadrelay-data).")]


def tables() -> Console:
    """Where tables go: the terminal as it is; a pipe or a file gets a generous width."""
    return out if out.is_terminal else Console(width=PIPE_WIDTH)


def data_dir_option(data_dir: Path | None) -> str:
    """The ``--data-dir`` option to repeat in a suggested command ('' for the default folder)."""
    return f" --data-dir {shlex.quote(str(data_dir))}" if data_dir is not None else ""


def escaped(text: str) -> str:
    """``text`` with rich markup escaped, so names and reasons print as they are."""
    from rich.markup import escape

    return escape(text)


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
    """Runs ``coro`` on uvloop: the libuv event loop takes a third less CPU per request and per
    database round trip than asyncio's own (bench/report.py), and every driver we use supports it."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


async def with_runtime(settings: Settings, work: Any) -> Any:
    """Runs ``work(runtime)`` on a runtime built from ``settings`` and disposes of its store after.
    Embedded mode creates its schema; distributed mode exits 2 when nobody ran ``leadrelay migrate``."""
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
                names = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
            if "alembic_version" not in names:
                err.print("[red]No Leadrelay schema in this database: run `leadrelay migrate` first.[/red]")
                raise typer.Exit(2)
        return await work(runtime)
    finally:
        await runtime.store.dispose()
