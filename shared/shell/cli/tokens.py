"""``leadrelay tokens`` (bearer tokens for admins, managers and reps) and ``leadrelay reps`` (the
current policy's reps and their tokens)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from leadrelay.shared.shell.cli.common import (
    DataDir,
    NamedTyper,
    data_dir_option,
    err,
    escaped,
    run_async,
    settings_for,
    tables,
    with_runtime,
)

tokens_app = NamedTyper(help="Bearer tokens for admins, managers and reps: create, list, revoke.")
reps_app = NamedTyper(help="Sales reps: list the current policy's, make a rep's token.")


def _create_token(data_dir: Path | None, role: str, rep: str | None) -> str:
    from leadrelay.shared.security import TOKEN_PREFIX, hash_secret, new_secret, visible_prefix

    token = new_secret(TOKEN_PREFIX)

    async def work(runtime: Any) -> None:
        async with runtime.store.transaction() as uow:
            await uow.tokens.add(hash_secret(token), visible_prefix(token), role, rep)

    run_async(with_runtime(settings_for(data_dir), work))
    return token


@tokens_app.command("create")
def tokens_create(
    role: Annotated[str, typer.Option(metavar="ROLE", help="admin | manager | rep")],
    rep: Annotated[str | None, typer.Option(metavar="ID", help="The rep's (or manager's) id, for rep and manager "
                                                               "tokens.")] = None,
    data_dir: DataDir = None,
) -> None:
    """Create a bearer token and print it once (the last line of stdout)."""
    if role not in ("admin", "manager", "rep"):
        err.print("[red]--role must be admin, manager or rep.[/red]")
        raise typer.Exit(2)
    if role in ("rep", "manager") and not rep:
        err.print(f"[red]A {role} token needs --rep ID.[/red]")
        raise typer.Exit(2)
    token = _create_token(data_dir, role, rep)
    err.print(f"{role} token created; it is shown once:")
    print(token)


@tokens_app.command("list")
def tokens_list(data_dir: DataDir = None) -> None:
    """List bearer tokens: prefix, role, rep, created, revoked (never the token itself)."""

    async def work(runtime: Any) -> list[Any]:
        async with runtime.store.read() as uow:
            return await uow.tokens.list()

    table = Table("prefix", "role", "rep", "created", "revoked")
    for row in run_async(with_runtime(settings_for(data_dir), work)):
        table.add_row(escaped(row.key_prefix) + "…", row.role, escaped(row.rep_id or "-"), str(row.created_at)[:19],
                      str(row.revoked_at or "")[:19])
    tables().print(table)


@tokens_app.command("revoke")
def tokens_revoke(
    prefix: Annotated[str, typer.Argument(help="The token's prefix as leadrelay tokens list shows it (lrt_…), "
                                               "or the whole token.")],
    data_dir: DataDir = None,
) -> None:
    """Revoke a bearer token: requests that carry it are refused (401) from now on."""
    from leadrelay.shared.security import hash_secret

    given = prefix.strip().removesuffix("…").removesuffix("...")

    async def work(runtime: Any) -> list[Any]:
        async with runtime.store.transaction() as uow:
            active = [row for row in await uow.tokens.list() if row.revoked_at is None]
            matches = [row for row in active if row.token_hash == hash_secret(given)] or [
                row for row in active if given.startswith(row.key_prefix)]
            if len(matches) == 1:
                await uow.tokens.revoke(matches[0].token_hash)
            return matches

    matches = run_async(with_runtime(settings_for(data_dir), work))
    if not matches:
        err.print(f"[red]No active token with the prefix '{escaped(given)}'[/red] (see leadrelay tokens list).")
        raise typer.Exit(1)
    if len(matches) > 1:
        err.print(f"[red]{len(matches)} active tokens have the prefix '{escaped(given)}': nothing revoked.[/red] "
                  "Give the whole token to revoke one.", soft_wrap=True)
        raise typer.Exit(1)
    role, rep = matches[0].role, matches[0].rep_id
    err.print(f"Token {escaped(matches[0].key_prefix)}… ({role}{f' {escaped(rep)}' if rep else ''}) revoked.")


@reps_app.command("list")
def reps_list(data_dir: DataDir = None) -> None:
    """The current policy's reps: id, team, manager, time zone and chat platform (never a webhook)."""

    async def work(runtime: Any) -> Any:
        async with runtime.store.read() as uow:
            return await uow.policies.current()

    current = run_async(with_runtime(settings_for(data_dir), work))
    if current is None:
        err.print("[red]No policy applied yet.[/red] Apply one with: leadrelay policy apply FILE"
                  f"{data_dir_option(data_dir)} (leadrelay run applies the bundled example)", soft_wrap=True)
        raise typer.Exit(1)
    version, policy = current
    table = Table("rep", "team", "manager", "time zone", "chat", title=f"Reps of policy v{version}",
                  title_justify="left")
    for rep in policy.reps:
        table.add_row(escaped(rep.id), escaped(rep.team), escaped(policy.team(rep.team).manager),
                      rep.timezone or f"{policy.timezone} (policy's)", rep.chat.platform if rep.chat else "-")
    tables().print(table)


@reps_app.command("token")
def reps_token(rep: Annotated[str, typer.Argument(help="The rep's id.")], data_dir: DataDir = None) -> None:
    """Create a rep's bearer token and print it once (the same as: leadrelay tokens create --role rep --rep REP)."""
    print(_create_token(data_dir, "rep", rep))
