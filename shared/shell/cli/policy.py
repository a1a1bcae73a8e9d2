"""``leadrelay policy``: check, store and try routing policies (validate, apply, schema, test, diff,
simulate)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from leadrelay.shared.shell.cli.common import (
    DataDir,
    NamedTyper,
    err,
    escaped,
    out,
    run_async,
    settings_for,
    with_runtime,
)
from leadrelay.shared.shell.cli.render import SIMULATION_TERMS, render_rejected, render_simulation

policy_app = NamedTyper(help="The routing policy: validate, test, diff, simulate, apply, schema.")


def _policy_from(file: Path, what: str = "policy") -> Any:
    """Loads a policy file for a command, or exits: 2 when missing, 1 when invalid."""
    from leadrelay.shared.policy import PolicyError, load_policy

    try:
        return load_policy(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        err.print(f"[red]No such {what} file: {file}[/red]")
        raise typer.Exit(2) from None
    except PolicyError as exc:
        err.print(f"[red]{file}: invalid policy[/red]\n{escaped(str(exc))}", soft_wrap=True)
        raise typer.Exit(1) from None


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

    version, created = run_async(with_runtime(settings_for(data_dir), work))
    out.print(f"policy v{version} {'applied' if created else 'unchanged (same as the current version)'}")


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
        where = f"[held until {decision.held_until:%Y-%m-%d %H:%M} UTC]" if decision and decision.held_until else \
            f"[{decision.queue}]" if decision else ""
        got = (decision.owner or where) + f" by {decision.rule or 'fallback'}" if decision else "-"
        table.add_row("[green]PASS[/green]" if result.passed else "[red]FAIL[/red]", escaped(result.name),
                      escaped(got))
    out.print(table)
    failed = [result for result in results if not result.passed]
    for result in failed:
        body = "\n".join(f"[red]✗[/red] {failure}" for failure in result.failures)
        if result.decision is not None:
            body += "\n\n" + escaped(result.explanation)
        out.print(Panel(body, title=f"[red]FAIL[/red] {escaped(result.name)}", title_align="left"))
    passed = len(results) - len(failed)
    out.print(f"[{'red' if failed else 'green'}]{passed} passed, {len(failed)} failed[/]")
    if failed:
        raise typer.Exit(1)


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
        out.print(f"  • {escaped(line)}")


@policy_app.command("simulate", help=(
    "Replay leads through the policy: share per rep and team vs fair share, capacity, SLA risk, unassigned "
    "leads, and with --against who gains and loses leads.\n\nWhat the figures mean:\n"
    + "\n".join(f"  [bold]{term}[/bold]: {meaning}" for term, meaning in SIMULATION_TERMS)))
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
    # The help (with the legend of the figures) is in the decorator, built from SIMULATION_TERMS.
    import json
    from zoneinfo import ZoneInfo

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from leadrelay.shared.lab.simulation import simulate
    from leadrelay.shared.shell.cli.simulation_io import arrival_plan, count_lines, prepared_leads

    policy = _policy_from(file)
    baseline = _policy_from(against) if against is not None else None
    if not leads.exists():
        err.print(f"[red]No such leads file: {leads}[/red]")
        raise typer.Exit(2)
    tz = ZoneInfo(policy.timezone)
    try:
        first, gap, closing = arrival_plan(start, spacing, close_after, tz)
    except ValueError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None

    total = count_lines(leads)
    rejected: list[tuple[int, str]] = []
    with Progress(TextColumn("simulating"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=err, transient=True, disable=not err.is_terminal) as bar:
        task = bar.add_task("leads", total=total)
        report = simulate(policy, prepared_leads(leads, total, rejected, tz), start=first, spacing=gap,
                          against=baseline, close_after=closing, top=top,
                          progress=lambda done: bar.update(task, completed=done + len(rejected)))
    if as_json:
        data = report.to_dict()
        data["rejected"] = len(rejected)
        print(json.dumps(data, ensure_ascii=False, indent=2))
        return
    render_rejected(rejected)
    render_simulation(report, file.name, against.name if against else None, len(rejected))
