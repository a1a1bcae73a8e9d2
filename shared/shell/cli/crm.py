"""``leadrelay crm``: connect HubSpot or Salesforce (a connector is a webhook subscription to
``lead.assigned`` with a CRM target, so it shares the delivery line: retries, dead letters,
``leadrelay webhooks deliveries|redrive``), and see which reps the policy maps to CRM users."""

from __future__ import annotations

import os
from typing import Annotated, Any

import typer
from rich.table import Table

from leadrelay.shared.shell.cli.common import DataDir, NamedTyper, err, run_async, settings_for, tables, with_runtime

crm_app = NamedTyper(help="CRM connectors (HubSpot, Salesforce): every assignment written into the CRM.")

HUBSPOT_API = "https://api.hubapi.com"
EVENTS = ["lead.assigned"]


def _secret(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        err.print(f"[red]The environment variable {name} is not set.[/red]")
        raise typer.Exit(2)
    return value


def _connect(data_dir: DataDir, url: str, target: str, secret: str, config: dict[str, str]) -> None:
    from leadrelay.services.notifier.subscriptions import create_subscription
    from leadrelay.shared.link_secret import link_secret
    from leadrelay.shared.problems import Problem
    from leadrelay.shared.secret_box import SecretBox

    async def work(runtime: Any) -> Any:
        try:
            return await create_subscription(runtime.store, SecretBox(link_secret(runtime.settings)), url=url,
                                             events=EVENTS, target=target, secret=secret, config=config)
        except Problem as exc:
            err.print(f"[red]{exc.detail}[/red]", soft_wrap=True)
            raise typer.Exit(1) from None

    created = run_async(with_runtime(settings_for(data_dir), work))
    err.print(f"Connector {created.subscription.id}: every lead.assigned is written to {target} at {url}. "
              "Map reps to CRM users in the policy (reps[].crm, or the crm section); "
              "`leadrelay crm owners` shows who is mapped.", soft_wrap=True)
    print(created.subscription.id)


@crm_app.command("hubspot")
def crm_hubspot(
    token_env: Annotated[str, typer.Option(metavar="NAME", help="The environment variable holding the HubSpot "
                                           "private app's (or static) access token.")],
    data_dir: DataDir = None,
    url: Annotated[str, typer.Option(metavar="URL", help="The API's base URL.")] = HUBSPOT_API,
    lifecycle_stage: Annotated[str | None, typer.Option(metavar="STAGE", help="An internal lifecycle stage name "
                                                        "written with each assignment (default: left to HubSpot).")] = None,
) -> None:
    """Connect HubSpot: each assignment upserts the lead's contact by e-mail and sets its owner
    (hubspot_owner_id). Prints the connector's id."""
    config = {"lifecycle_stage": lifecycle_stage} if lifecycle_stage else {}
    _connect(data_dir, url, "hubspot", _secret(token_env), config)


@crm_app.command("salesforce")
def crm_salesforce(
    url: Annotated[str, typer.Option(metavar="URL", help="The org's My Domain, https://<domain>.my.salesforce.com.")],
    client_id: Annotated[str, typer.Option(metavar="KEY", help="The connected app's consumer key.")],
    client_secret_env: Annotated[str, typer.Option(metavar="NAME", help="The environment variable holding the "
                                                   "consumer secret.")],
    data_dir: DataDir = None,
    external_id_field: Annotated[str, typer.Option(metavar="FIELD", help="A custom Lead text field marked External "
                                                   "ID and Unique; it holds Leadrelay's lead id.")] = "Leadrelay_Id__c",
    api_version: Annotated[str, typer.Option(metavar="VERSION", help="The REST API version.")] = "66.0",
) -> None:
    """Connect Salesforce (OAuth 2.0 client credentials): each assignment upserts a Lead by the
    external id field and sets its OwnerId. Prints the connector's id."""
    from leadrelay.services.notifier.targets import TargetConfig
    from leadrelay.services.notifier.targets.salesforce import settings

    config = {"client_id": client_id, "external_id_field": external_id_field, "api_version": api_version}
    try:
        settings(TargetConfig("new", "salesforce", url, "", config))
    except ValueError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    _connect(data_dir, url, "salesforce", _secret(client_secret_env), config)


@crm_app.command("owners")
def crm_owners(data_dir: DataDir = None) -> None:
    """Each rep of the current policy and their HubSpot owner id and Salesforce user id; a rep
    with none cannot be written to that CRM (those deliveries are dead-lettered until mapped)."""

    async def work(runtime: Any) -> Any:
        async with runtime.store.read() as uow:
            return await uow.policies.current()

    current = run_async(with_runtime(settings_for(data_dir), work))
    if current is None:
        err.print("[red]No policy has been applied yet.[/red]")
        raise typer.Exit(1)
    policy = current[1]
    hubspot, salesforce = policy.crm_owners("hubspot"), policy.crm_owners("salesforce")
    table = Table("rep", "HubSpot owner", "Salesforce user")
    for rep in policy.rep_ids:
        table.add_row(rep, hubspot.get(rep, "-"), salesforce.get(rep, "-"))
    tables().print(table)
