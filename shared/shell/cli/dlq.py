"""``leadrelay dlq``: dead-lettered events (list, redrive)."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from leadrelay.shared.shell.cli.common import DataDir, NamedTyper, err, out, run_async, settings_for, with_runtime

dlq_app = NamedTyper(help="Dead-lettered events.")


@dlq_app.command("list")
def dlq_list(data_dir: DataDir = None, all_: Annotated[bool, typer.Option("--all", help="Include redriven.")] = False
             ) -> None:
    """Dead-lettered events: which consumer gave up on what, and why."""

    async def work(runtime: Any) -> list[Any]:
        async with runtime.store.read() as uow:
            return await uow.inbox.dead_letters(include_redriven=all_)

    rows = run_async(with_runtime(settings_for(data_dir), work))
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

    count = run_async(with_runtime(settings_for(data_dir), lambda runtime: redrive(runtime.store, ids)))
    out.print(f"{count} event(s) redriven")
