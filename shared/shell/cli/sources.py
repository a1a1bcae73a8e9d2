"""``leadrelay sources``: lead sources and their API keys (add, list, rotate, revoke)."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from leadrelay.shared.shell.cli.common import (
    DataDir,
    NamedTyper,
    data_dir_option,
    err,
    out,
    run_async,
    settings_for,
    with_runtime,
)

sources_app = NamedTyper(help="Lead sources and their API keys: add, list, rotate, revoke.")


@sources_app.command("add")
def sources_add(
    name: Annotated[str, typer.Argument(help="The source's name; a revoked source's name may be used again.")],
    data_dir: DataDir = None,
    kind: Annotated[str, typer.Option(metavar="KIND", help="api | meta | google_ads | linkedin | tiktok | csv | "
                                      "integration (a CRM reporting activity: also prints its whsec_ signing secret)"
                                      )] = "api",
    setting: Annotated[list[str] | None, typer.Option(
        "--set", metavar="KEY=VALUE",
        help="Platform settings (meta: app_secret, verify_token, page_token; google_ads: google_key; "
             "linkedin: client_secret, access_token[, application_id]; tiktok: client_secret[, client_key]). "
             "A value 'env:NAME' is read from the environment at use.")] = None,
) -> None:
    """Create a lead source and print its API key once (the last line of stdout is the bare key)."""
    from leadrelay.shared.shell.bootstrap import SourceExists, create_source

    if kind not in ("api", "meta", "google_ads", "linkedin", "tiktok", "csv", "integration"):
        err.print("[red]--kind must be api, meta, google_ads, linkedin, tiktok, csv or integration.[/red]")
        raise typer.Exit(2)
    config = {}
    for item in setting or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            err.print(f"[red]--set takes KEY=VALUE (got '{item}').[/red]")
            raise typer.Exit(2)
        config[key.strip()] = value

    async def work(runtime: Any) -> str:
        from leadrelay.shared.shell.bootstrap import create_integration_source

        try:
            if kind == "integration":
                key, signing_secret = await create_integration_source(runtime, name)
                err.print("Its signing secret (Standard Webhooks: sign each activity with it), shown once:")
                print(signing_secret)
                return key
            return await create_source(runtime, name, kind, config)
        except SourceExists:
            err.print(f"[red]A source named '{name}' exists already.[/red] For a new key: "
                      f"leadrelay sources rotate {name}{data_dir_option(data_dir)}", soft_wrap=True)
            raise typer.Exit(1) from None

    key = run_async(with_runtime(settings_for(data_dir), work))
    err.print(f"Source '{name}' created. Keep this key secret; it is not stored and cannot be shown again:")
    print(key)


@sources_app.command("list")
def sources_list(data_dir: DataDir = None) -> None:
    """List lead sources (key prefixes only)."""

    async def work(runtime: Any) -> list[Any]:
        async with runtime.store.read() as uow:
            return await uow.sources.list()

    table = Table("name", "kind", "key prefix", "created", "revoked")
    for row in run_async(with_runtime(settings_for(data_dir), work)):
        table.add_row(row.name, row.kind, row.key_prefix + "…", str(row.created_at)[:19], str(row.revoked_at or "")[:19])
    out.print(table)


@sources_app.command("rotate")
def sources_rotate(name: Annotated[str, typer.Argument(help="The source's name.")], data_dir: DataDir = None) -> None:
    """Give a source a new API key and print it once (the last line of stdout). The old key is
    refused at once; the source keeps its name, kind and settings, so its leads keep their source."""
    from leadrelay.shared.shell.bootstrap import rotate_source_key

    async def work(runtime: Any) -> tuple[Any, str | None]:
        key = await rotate_source_key(runtime, name)
        if key is not None:
            return None, key
        async with runtime.store.read() as uow:
            return await uow.sources.by_name(name), None

    existing, key = run_async(with_runtime(settings_for(data_dir), work))
    if key is None:
        again = f"leadrelay sources add {name}{data_dir_option(data_dir)}"
        if existing is None:
            err.print(f"[red]No source named '{name}'.[/red] Create it with: {again}", soft_wrap=True)
        else:
            err.print(f"[red]Source '{name}' is revoked.[/red] To use the name again: {again} "
                      "(with its --kind and --set)", soft_wrap=True)
        raise typer.Exit(1)
    err.print(f"Source '{name}' has a new key; the old one is refused from now on. "
              "Keep this key secret; it cannot be shown again:")
    print(key)


@sources_app.command("revoke")
def sources_revoke(name: Annotated[str, typer.Argument(help="The source's name.")], data_dir: DataDir = None) -> None:
    """Revoke a source's key: its posts are refused from now on."""

    async def work(runtime: Any) -> bool:
        async with runtime.store.transaction() as uow:
            return await uow.sources.revoke(name)

    if not run_async(with_runtime(settings_for(data_dir), work)):
        err.print(f"[red]No active source named '{name}'.[/red]")
        raise typer.Exit(1)
    err.print(f"Source '{name}' revoked.")
