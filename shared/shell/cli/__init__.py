"""The ``leadrelay`` command line: the root app, ``--version``, and one module per command group
(run.py: run, serve, migrate, topics; sources.py; tokens.py: tokens and reps; policy.py; imports.py;
dlq.py; demo.py; report.py; webhooks.py; crm.py; people.py). Each group imports what is slow (the lab, the store) inside its commands, so
``leadrelay --help`` stays fast."""

from __future__ import annotations

from typing import Annotated

import typer

from leadrelay.shared.shell.cli.common import NamedTyper
from leadrelay.shared.shell.cli.crm import crm_app
from leadrelay.shared.shell.cli.demo import demo_app
from leadrelay.shared.shell.cli.dlq import dlq_app
from leadrelay.shared.shell.cli.imports import import_app
from leadrelay.shared.shell.cli.people import people_app
from leadrelay.shared.shell.cli.policy import policy_app
from leadrelay.shared.shell.cli.report import report_app
from leadrelay.shared.shell.cli.run import root_commands, topics_app
from leadrelay.shared.shell.cli.sources import sources_app
from leadrelay.shared.shell.cli.tokens import reps_app, tokens_app
from leadrelay.shared.shell.cli.webhooks import webhooks_app

app = NamedTyper(help="Leadrelay: event-driven, SLA-aware lead routing.", pretty_exceptions_enable=False)
# Help lists commands in the order they are added here: run, serve, migrate, then the groups.
app.add_typer(root_commands)
app.add_typer(sources_app, name="sources")
app.add_typer(tokens_app, name="tokens")
app.add_typer(reps_app, name="reps")
app.add_typer(policy_app, name="policy")
app.add_typer(demo_app, name="demo")
app.add_typer(dlq_app, name="dlq")
app.add_typer(topics_app, name="topics")
app.add_typer(import_app, name="import")
app.add_typer(report_app, name="report")
app.add_typer(webhooks_app, name="webhooks")
app.add_typer(crm_app, name="crm")
app.add_typer(people_app, name="people")


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


def main() -> None:  # pragma: no cover
    app()
