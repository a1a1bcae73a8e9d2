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


Encoding = Annotated[str | None, typer.Option(
    help="The file's text encoding (utf-8, gb18030, utf-16, …); detected when not given.")]
FieldMap = Annotated[list[str] | None, typer.Option(
    "--map", metavar="FIELD=COLUMN",
    help="Read a lead field from a column the built-in synonyms don't know: --map 'email=邮件地址'. Repeatable.")]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Validate and count; import nothing.")]
Source = Annotated[str, typer.Option(metavar="NAME", help="The lead source the rows are recorded under.")]
Country = Annotated[str | None, typer.Option(
    "--country", metavar="CODE",
    help="The country of rows without one (CN, US, …); also how phone numbers written without + are read.")]


@import_app.command("csv")
def import_csv_command(
    file: Annotated[Path, typer.Argument(help="The CSV file (UTF-8, GB18030/GBK, UTF-16, …).")],
    source: Source,
    encoding: Encoding = None,
    field_map: FieldMap = None,
    country: Country = None,
    dry_run: DryRun = False,
    data_dir: DataDir = None,
) -> None:
    """Import leads from a CSV file as Excel or WPS saves it. Headers in English or Chinese (email/邮箱,
    phone/手机, name/姓名, company/公司, …); other columns become attributes. Rejected rows go to
    FILE.rejects.csv with their line and reason. Re-importing the same file adds nothing twice."""
    _import_file(file, source, encoding=encoding, field_map=field_map, country=country, dry_run=dry_run,
                 sheet=None, data_dir=data_dir)


@import_app.command("xlsx")
def import_xlsx_command(
    file: Annotated[Path, typer.Argument(help="The Excel workbook (.xlsx).")],
    source: Source,
    sheet: Annotated[str | None, typer.Option(help="The sheet to read; the first when not given.")] = None,
    field_map: FieldMap = None,
    country: Country = None,
    dry_run: DryRun = False,
    data_dir: DataDir = None,
) -> None:
    """Import leads from an Excel workbook's sheet (the first row is the header), as `import csv` does."""
    _import_file(file, source, encoding=None, field_map=field_map, country=country, dry_run=dry_run, sheet=sheet,
                 data_dir=data_dir)


def _import_file(file: Path, source: str, *, encoding: str | None, field_map: list[str] | None,
                 country: str | None, dry_run: bool, sheet: str | None, data_dir: DataDir) -> None:
    import codecs

    from leadrelay.services.intake.lead_files import UnreadableFile, check_header, count_rows, read_rows
    from leadrelay.services.intake.lead_import import import_rows, rejects_file, rejects_path

    if not file.exists():
        err.print(f"[red]No such file: {escaped(str(file))}[/red]")
        raise typer.Exit(2)
    overrides = {}
    for item in field_map or []:
        field, sep, column = item.partition("=")
        if not sep or not field.strip() or not column.strip():
            err.print(f"[red]--map {escaped(item)}: write it as FIELD=COLUMN, e.g. --map 'email=邮件地址'.[/red]")
            raise typer.Exit(2)
        overrides[field.strip()] = column.strip()
    if encoding is not None:
        try:
            codecs.lookup(encoding)
        except LookupError:
            err.print(f"[red]--encoding {escaped(encoding)}: no such encoding.[/red]")
            raise typer.Exit(2) from None
    settings = settings_for(data_dir)
    if settings.mode == "embedded":
        # Importing into a database nobody runs would look like success and route nothing.
        if not settings.embedded_database.exists():
            err.print(f"[red]No Leadrelay database in {escaped(str(settings.data_dir))}.[/red] Point --data-dir at "
                      "the folder leadrelay run uses (or start leadrelay run there first).", soft_wrap=True)
            raise typer.Exit(2)
        err.print(f"{'Checking against' if dry_run else 'Importing into'} "
                  f"{escaped(str(settings.data_dir.resolve()))}", soft_wrap=True, highlight=False)
    try:
        check_header(file, encoding=encoding, overrides=overrides, sheet=sheet)
        total = count_rows(file, encoding=encoding, sheet=sheet)
        rows = read_rows(file, encoding=encoding, overrides=overrides, sheet=sheet, default_country=country)
    except UnreadableFile as exc:
        err.print(f"[red]{escaped(str(exc))}[/red]", soft_wrap=True)
        raise typer.Exit(2) from None
    rejected_to = rejects_path(file)

    async def work(runtime: Any) -> Any:
        async with runtime.store.read() as uow:
            if await uow.sources.by_name(source) is None:
                err.print(f"[red]No source named '{source}'. Create it with: leadrelay sources add {source}"
                          f"{data_dir_option(data_dir)}[/red]", soft_wrap=True)
                raise typer.Exit(2)

        async def known_person(keys: list[str]) -> bool:
            async with runtime.store.read() as uow:
                return bool(await uow.people.ids_for_keys(keys))

        with _row_progress(total, "checking" if dry_run else "importing",
                           "checked" if dry_run else "imported") as advance, rejects_file(rejected_to) as rejects:
            try:
                return await import_rows(runtime, rows, source, rejects, known_person=known_person,
                                         dry_run=dry_run, progress=advance)
            finally:
                await runtime.bus.stop()

    try:
        report = run_async(with_runtime(settings, work))
    except UnreadableFile as exc:  # met half-way (a bad byte deep in the file): what came before is in
        err.print(f"[red]{escaped(str(exc))}[/red]" + ("" if dry_run else " Rows before it were imported; "
                  "importing again after fixing the file adds them once."), soft_wrap=True)
        raise typer.Exit(2) from None
    if report.rejected:
        err.print(f"[yellow]{_count(report.rejected, 'row')} rejected[/yellow], each with its line and reason, in "
                  f"{escaped(str(rejected_to))}", soft_wrap=True, highlight=False)
    out.print(f"{'dry run, nothing imported: ' if dry_run else ''}leads: {report.new} new, "
              f"{report.merged} merged into people we know, {report.already} already imported; "
              f"{_count(report.rejected, 'row')} rejected", highlight=False, soft_wrap=True)
    if report.rejected and not report.accepted:
        raise typer.Exit(1)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


@contextmanager
def _row_progress(total: int | None, doing: str, done_verb: str) -> Iterator[Callable[[], None]]:
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
            err.print(f"{done_verb} {done}/{_count(total, 'row')}" if total is not None
                      else f"{done_verb} {_count(done, 'row')}", highlight=False)

    yield advance
