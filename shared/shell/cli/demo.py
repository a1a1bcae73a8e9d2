"""``leadrelay demo``: synthetic data for trying Leadrelay (``demo leads``) and a local stand-in for
the reps' chat (``demo chat-sink``)."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from leadrelay.shared.shell.cli.common import NamedTyper, err, out

demo_app = NamedTyper(help="Synthetic data for trying Leadrelay.")


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


@demo_app.command("chat-sink")
def demo_chat_sink(port: Annotated[int, typer.Option(metavar="PORT", help="Listen port (the example policy uses "
                                                                             "9009).")] = 9009
                   ) -> None:
    """A local stand-in for Slack: prints every message the example policy's reps receive, and its
    buttons' one-click links (with `leadrelay run --public-url`)."""
    import uvicorn

    from leadrelay.services.notifier.chat_sink import create_sink, show

    def print_message(recipient: str, payload: dict[str, Any]) -> None:
        show(out, recipient, payload)

    err.print(f"chat sink on http://127.0.0.1:{port}/slack/<recipient> (Ctrl-C stops it)")
    uvicorn.run(create_sink(print_message), host="127.0.0.1", port=port, log_level="warning")
