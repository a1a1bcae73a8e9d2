"""``leadrelay report``: reports over the stored leads (the funnel), as a table or CSV."""

from __future__ import annotations

import csv
import sys
from datetime import datetime
from typing import Annotated, Any

import typer

from leadrelay.shared.shell.cli.common import (
    DataDir,
    NamedTyper,
    err,
    escaped,
    run_async,
    settings_for,
    tables,
    with_runtime,
)

report_app = NamedTyper(help="Reports over the stored leads: the funnel.")

GROUP_HELP = "Group rows by source, rep, team, grade, rule or policy_version; repeat for several (--by source --by rep)."


@report_app.command("funnel")
def report_funnel(
    data_dir: DataDir = None,
    since: Annotated[str | None, typer.Option(
        metavar="DATE", help="First day (or ISO date and time) of the period, included, UTC. Default: 30 days "
                             "before --until.")] = None,
    until: Annotated[str | None, typer.Option(
        metavar="DATE", help="End of the period, excluded (2026-06-01 ends with May 31). Default: now.")] = None,
    by: Annotated[list[str] | None, typer.Option(metavar="KEY", help=GROUP_HELP)] = None,
    as_csv: Annotated[bool, typer.Option("--csv", help="CSV on stdout (seconds and fractions) instead of a table.")
                      ] = False,
) -> None:
    """The funnel of the leads received in a period: received, assigned, accepted, contacted,
    converted, lost; time to first touch (p50, p90); first-touch SLA compliance; conversion.
    Columns: docs/reports.md."""
    from leadrelay.services.router.reports import funnel_report, group_keys, parse_instant
    from leadrelay.shared.problems import InvalidField

    try:
        keys = group_keys(by or [])
        start = parse_instant(since, "since") if since is not None else None
        end = parse_instant(until, "until") if until is not None else None
    except InvalidField as exc:
        err.print(f"[red]--{exc.errors[0]['field']}: {escaped(exc.detail)}[/red]")
        raise typer.Exit(2) from None

    async def work(runtime: Any) -> Any:
        return await funnel_report(runtime.store, runtime.clock, start, end, keys)

    try:
        report = run_async(with_runtime(settings_for(data_dir), work))
    except InvalidField as exc:  # the period itself (since not before until, out of range)
        err.print(f"[red]--{exc.errors[0]['field']}: {escaped(exc.detail)}[/red]")
        raise typer.Exit(2) from None
    rows = [row.flat() for row in report.rows]
    columns = [*report.by, *FIGURES]
    if as_csv:
        writer = csv.DictWriter(sys.stdout, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return
    print_table(report.since, report.until, columns, rows)
    err.print(f"{sum(row['received'] for row in rows)} lead(s) received in "
              f"[{report.since:%Y-%m-%d %H:%M}, {report.until:%Y-%m-%d %H:%M}) UTC")


# The figures' columns, in the order of the funnel (docs/reports.md).
FIGURES = ("received", "assigned", "accepted", "contacted", "converted", "lost", "first_touch_p50_seconds",
           "first_touch_p90_seconds", "sla_clocks", "sla_breached", "sla_compliance", "conversion_rate")
HEADINGS = {"first_touch_p50_seconds": "first touch p50", "first_touch_p90_seconds": "first touch p90",
            "sla_clocks": "SLA clocks", "sla_breached": "SLA breached", "sla_compliance": "SLA kept",
            "conversion_rate": "conversion", "policy_version": "policy"}


def print_table(since: datetime, until: datetime, columns: list[str], rows: list[dict[str, Any]]) -> None:
    from rich.table import Table

    table = Table(*(HEADINGS.get(column, column) for column in columns),
                  title=f"Funnel, leads received {since:%Y-%m-%d %H:%M} to {until:%Y-%m-%d %H:%M} UTC")
    for column in table.columns[len(columns) - len(FIGURES):]:
        column.justify = "right"
    for row in rows:
        table.add_row(*(cell(column, row[column]) for column in columns))
    tables().print(table)


def cell(column: str, value: Any) -> str:
    if value is None:
        return "-"
    if column.endswith("_seconds"):
        return duration(value)
    if column in ("sla_compliance", "conversion_rate"):
        return f"{value:.1%}"
    return escaped(str(value))


def duration(seconds: float) -> str:
    """``45s``, ``5m``, ``2h 5m``, ``3d 4h``: the two largest units."""
    total = round(seconds)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{n}{unit}" for n, unit in ((days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")) if n]
    return " ".join(parts[:2]) or "0s"
