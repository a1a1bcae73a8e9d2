"""The report of ``leadrelay policy simulate`` for people: rich tables, and what their figures mean."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from leadrelay.shared.shell.cli.common import PIPE_WIDTH, err, escaped, tables

# What the simulation's figures mean: printed under its tables and in its --help.
SIMULATION_TERMS = (
    ("share", "the rep's part of the assigned leads"),
    ("fair", "their part if every lead were split equally among the reps its rule could pick"),
    ("vs fair", "share ÷ fair; 1.00 is exactly fair, 2.00 twice the fair part, 0.50 half"),
    ("max/min", "the most leads a rep got ÷ the fewest, among reps with a fair part (∞ when one got none)"),
    ("Gini", "how unevenly those reps got leads: 0 all alike, towards 1 all to a few"),
    ("SLA risk", "leads whose first-touch deadline falls while the owner is off shift or away"),
    ("breaches", "assignments over a rep's capacity or outside their hours (should be 0)"),
)

# Rejected leads listed one by one on stderr; the rest are counted.
_REJECTED_SHOWN = 20


def render_rejected(rejected: list[tuple[int, str]]) -> None:
    """The leads intake would refuse, with their line and reason, on stderr."""
    for line, reason in rejected[:_REJECTED_SHOWN]:
        err.print(f"[yellow]line {line}:[/yellow] {escaped(reason)}")
    if len(rejected) > _REJECTED_SHOWN:
        err.print(f"… and {len(rejected) - _REJECTED_SHOWN} more rejected leads")


def render_simulation(report: Any, name: str, against: str | None, rejected: int) -> None:
    """The report as tables on stdout: ``name`` is the policy file tried, ``against`` the one compared
    with (or None), ``rejected`` how many leads intake would have refused."""
    console = tables()
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

        wanted = console.measure(grid, options=console.options.update(max_width=10 * PIPE_WIDTH)).maximum
        if wanted > console.width:  # a narrow terminal: fewer rules rather than cut figures
            grid.box, grid.show_edge, grid.padding = box.SIMPLE_HEAD, False, (0, 0)
        console.print(grid)

    before = {stats.rep: stats for stats in base.reps} if base else {}
    reps = table("Per rep", "rep", "team", "leads", "share", "fair", "vs fair", "SLA risk", "breaches",
                 *(("before", "Δ") if base else ()), whole=2)
    for stats in run.reps:
        row = [escaped(stats.rep), escaped(stats.team), str(stats.received), pct(stats.share),
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
    for term, meaning in SIMULATION_TERMS:
        legend.add_row(term, meaning)
    console.print(legend)
    teams = table("Per team", "team", "received", "share", "fair share")
    for team in run.teams:
        teams.add_row(escaped(team.team), str(team.received), pct(team.share), pct(team.fair_share))
    show(teams)
    rules = table("Rule hits", "rule", "leads", *(("before",) if base else ()))
    for rule, count in run.rule_hits.items():
        rules.add_row(escaped(rule), str(count), *((str(base.rule_hits.get(rule, 0)),) if base else ()))
    show(rules)
    if run.unassigned:
        queues = table("Unassigned", "queue", "leads")
        for queue, count in run.unassigned.items():
            queues.add_row(escaped(queue), str(count))
        show(queues)
    if report.changes is not None:
        console.print(f"[bold]{report.changes.changed}[/bold] of {report.leads} leads change owner against {against}")
        if report.changes.moves:
            moves = table("Most common moves", "from", "to", "leads", whole=2)
            for old, new, count in report.changes.moves:
                moves.add_row(escaped(old), escaped(new), str(count))
            show(moves)
