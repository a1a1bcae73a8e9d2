"""``leadrelay import``: bring leads in from files (``import csv``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from leadrelay.shared.shell.cli.common import (
    DataDir,
    NamedTyper,
    data_dir_option,
    err,
    escaped,
    out,
    run_async,
    settings_for,
    with_runtime,
)

import_app = NamedTyper(help="Bring leads in from files.")

# Rows between two progress lines when stderr is not a terminal (a log file, CI).
_PROGRESS_EVERY = 1000


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
            err.print(f"[red]No Leadrelay database in {escaped(str(settings.data_dir))}.[/red] Point --data-dir at "
                      "the folder leadrelay run uses (or start leadrelay run there first).", soft_wrap=True)
            raise typer.Exit(2)
        err.print(f"Importing into {escaped(str(settings.data_dir.resolve()))}", soft_wrap=True, highlight=False)
    total = count_rows(file)

    async def work(runtime: Any) -> Any:
        async with runtime.store.read() as uow:
            if await uow.sources.by_name(source) is None:
                err.print(f"[red]No source named '{source}'. Create it with: leadrelay sources add {source}"
                          f"{data_dir_option(data_dir)}[/red]", soft_wrap=True)
                raise typer.Exit(2)
        with _row_progress(total, "importing", "imported") as advance:
            try:
                return await import_csv(runtime, file, source, advance)
            finally:
                await runtime.bus.stop()

    report = run_async(with_runtime(settings, work))
    for line, reason in report.rejected[:50]:
        err.print(f"[yellow]line {line}:[/yellow] {escaped(reason)}")
    if len(report.rejected) > 50:
        err.print(f"… and {len(report.rejected) - 50} more rejected rows")
    out.print(f"leads: {report.new} new, {report.already} already imported; "
              f"{_count(len(report.rejected), 'row')} rejected", highlight=False)
    if report.rejected and not report.accepted:
        raise typer.Exit(1)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


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
