"""``leadrelay webhooks``: webhook subscriptions and their deliveries (add, list, remove,
deliveries, redrive)."""

from __future__ import annotations

import os
from typing import Annotated, Any

import typer
from rich.table import Table

from leadrelay.shared.shell.cli.common import DataDir, NamedTyper, err, run_async, settings_for, tables, with_runtime

webhooks_app = NamedTyper(help="Webhook subscriptions (signed, Standard Webhooks) and their deliveries.")


def _box(runtime: Any) -> Any:
    from leadrelay.shared.link_secret import link_secret
    from leadrelay.shared.secret_box import SecretBox

    return SecretBox(link_secret(runtime.settings))


def _run(data_dir: DataDir, work: Any) -> Any:
    """Runs ``work(runtime)``; a refusal (bad field, unknown id) prints its reason and exits 1."""
    from leadrelay.shared.problems import Problem

    async def guarded(runtime: Any) -> Any:
        try:
            return await work(runtime)
        except Problem as exc:
            err.print(f"[red]{exc.detail}[/red]", soft_wrap=True)
            raise typer.Exit(1) from None

    return run_async(with_runtime(settings_for(data_dir), guarded))


@webhooks_app.command("add")
def webhooks_add(
    url: Annotated[str, typer.Argument(help="The receiver's URL (a CRM connector: its API's base URL).")],
    events: Annotated[str, typer.Option(metavar="TYPES", help="Comma-separated: lead.assigned, lead.activity, "
                                        "lead.sla, lead.recycled, person.merged, person.erased.")],
    data_dir: DataDir = None,
    target: Annotated[str, typer.Option(metavar="TARGET", help="webhook, or a CRM connector's name.")] = "webhook",
    secret_env: Annotated[str | None, typer.Option(metavar="NAME", help="Read the secret (a connector's credential, "
                                                   "or your own whsec_) from this environment variable.")] = None,
    setting: Annotated[list[str] | None, typer.Option("--set", metavar="KEY=VALUE",
                                                      help="A connector's setting.")] = None,
) -> None:
    """Subscribe a URL to lead events. A webhook's signing secret is printed once (the last line
    of stdout is the bare whsec_ secret)."""
    from leadrelay.services.notifier.subscriptions import create_subscription

    secret = None
    if secret_env is not None:
        secret = os.environ.get(secret_env)
        if not secret:
            err.print(f"[red]The environment variable {secret_env} is not set.[/red]")
            raise typer.Exit(2)
    config: dict[str, str] = {}
    for item in setting or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            err.print(f"[red]--set takes KEY=VALUE (got '{item}').[/red]")
            raise typer.Exit(2)
        config[key.strip()] = value

    async def work(runtime: Any) -> Any:
        return await create_subscription(runtime.store, _box(runtime), url=url, events=events.split(","),
                                         target=target, secret=secret, config=config)

    created = _run(data_dir, work)
    subscription = created.subscription
    err.print(f"Subscription {subscription.id} sends {', '.join(subscription.event_types)} to {subscription.url}.")
    print(subscription.id)
    if created.secret:
        err.print("Its signing secret; keep it secret, it is not shown again:")
        print(created.secret)


@webhooks_app.command("list")
def webhooks_list(data_dir: DataDir = None,
                  all_: Annotated[bool, typer.Option("--all", help="Include removed ones.")] = False) -> None:
    """The subscriptions (never their secrets)."""

    async def work(runtime: Any) -> list[Any]:
        async with runtime.store.read() as uow:
            return await uow.subscriptions.list(include_removed=all_)

    table = Table("id", "target", "url", "events", "created", "active")
    for s in _run(data_dir, work):
        table.add_row(s.id, s.target, s.url, ",".join(s.event_types), str(s.created_at)[:19], "yes" if s.active else "no")
    tables().print(table)


@webhooks_app.command("remove")
def webhooks_remove(subscription_id: Annotated[str, typer.Argument(metavar="ID")], data_dir: DataDir = None) -> None:
    """Stop a subscription; its waiting and dead-lettered deliveries are cancelled."""
    from leadrelay.services.notifier.subscriptions import remove_subscription

    cancelled = _run(data_dir, lambda runtime: remove_subscription(runtime.store, subscription_id))
    err.print(f"Subscription {subscription_id} removed; {cancelled} waiting delivery(ies) cancelled.")


@webhooks_app.command("deliveries")
def webhooks_deliveries(
    data_dir: DataDir = None,
    failed: Annotated[bool, typer.Option("--failed", help="Only dead-lettered ones and ones being retried.")] = False,
    subscription: Annotated[str | None, typer.Option(metavar="ID", help="Only this subscription's.")] = None,
    limit: Annotated[int, typer.Option(metavar="N", min=1, max=10000, help="At most this many.")] = 100,
) -> None:
    """Deliveries, newest first: state, attempts, the last error (--failed: what needs a look)."""

    async def work(runtime: Any) -> list[Any]:
        async with runtime.store.read() as uow:
            found = await uow.webhook_deliveries.list(subscription_id=subscription, limit=limit,
                                                      states=("dead", "pending") if failed else ())
        return [d for d in found if not failed or d.state == "dead" or d.attempts > 0]

    rows = _run(data_dir, work)
    table = Table("id", "subscription", "event", "lead", "state", "attempts", "last error")
    for d in rows:
        table.add_row(str(d.id), d.subscription_id, d.event_type, d.lead_id, d.state, str(d.attempts),
                      (d.last_error or "")[:80])
    tables().print(table)
    err.print(f"{len(rows)} delivery(ies)")


@webhooks_app.command("redrive")
def webhooks_redrive(delivery_id: Annotated[int, typer.Argument(metavar="ID", help="A dead-lettered delivery's id.")],
                     data_dir: DataDir = None) -> None:
    """Send a dead-lettered delivery again, from its first attempt (after the receiver is fixed)."""
    from leadrelay.services.notifier.subscriptions import redrive

    _run(data_dir, lambda runtime: redrive(runtime.store, delivery_id, runtime.clock()))
    err.print(f"Delivery {delivery_id} is queued again.")
