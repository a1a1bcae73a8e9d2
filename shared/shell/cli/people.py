"""``leadrelay people``: access and erasure requests (find, export, erase), as the admin API does
them (``services/scoring/privacy.py``)."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from leadrelay.shared.shell.cli.common import DataDir, NamedTyper, err, escaped, run_async, settings_for, with_runtime

people_app = NamedTyper(help="People: find one by email or phone, export or erase what we hold on them.")

PersonId = Annotated[str, typer.Argument(metavar="PERSON_ID", help="The person's id (see `leadrelay people find`).")]


def _problem(exc: Any) -> None:
    field = exc.errors[0]["field"] if exc.errors else ""
    err.print(f"[red]{escaped(field + ': ' if field else '')}{escaped(exc.detail)}[/red]")


@people_app.command("find")
def people_find(
    email: Annotated[str | None, typer.Option(metavar="EMAIL", help="An email address of the person.")] = None,
    phone: Annotated[str | None, typer.Option(metavar="PHONE", help="A phone number (international form, or with "
                                              "--country).")] = None,
    country: Annotated[str | None, typer.Option(metavar="CODE", help="The country a phone without + is dialled in."
                                                )] = None,
    data_dir: DataDir = None,
) -> None:
    """The ids of the people with this email or phone (matched by their salted identity keys)."""
    from leadrelay.services.scoring.privacy import find_people, person_summary
    from leadrelay.shared.problems import InvalidField

    settings = settings_for(data_dir)

    async def work(runtime: Any) -> list[Any]:
        return await find_people(runtime.store, settings.identity_salt, email=email, phone=phone, country=country)

    try:
        people = run_async(with_runtime(settings, work))
    except InvalidField as exc:
        _problem(exc)
        raise typer.Exit(2) from None
    for person in people:
        summary = person_summary(person)
        print(f"{summary['person_id']}\t{summary['lead_count']} lead(s)\tlast seen {summary['last_seen_at']}"
              + ("\terased" if summary["erased"] else ""))
    err.print(f"{len(people)} person(s) found")
    if not people:
        raise typer.Exit(1)


@people_app.command("export")
def people_export(person_id: PersonId, data_dir: DataDir = None) -> None:
    """Everything we hold on the person, as JSON on stdout (it holds their personal data: send it
    to them, keep no copy)."""
    import orjson

    from leadrelay.services.scoring.privacy import export_person
    from leadrelay.shared.problems import NotFound

    try:
        document = run_async(with_runtime(settings_for(data_dir),
                                          lambda runtime: export_person(runtime.store, runtime.clock, person_id)))
    except NotFound as exc:
        _problem(exc)
        raise typer.Exit(1) from None
    sys.stdout.buffer.write(orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n")


@people_app.command("erase")
def people_erase(
    person_id: PersonId,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    data_dir: DataDir = None,
) -> None:
    """Erase the person's personal data everywhere (contacts, history, messages, events) and emit
    person.erased. Their leads stay, anonymised, in reports. Cannot be undone."""
    from leadrelay.services.scoring.privacy import erase_person
    from leadrelay.shared.problems import NotFound

    if not yes:
        typer.confirm(f"Erase person {person_id}'s personal data? This cannot be undone", abort=True)
    try:
        erasure = run_async(with_runtime(settings_for(data_dir),
                                         lambda runtime: erase_person(runtime.store, runtime.clock, person_id, "cli")))
    except NotFound as exc:
        _problem(exc)
        raise typer.Exit(1) from None
    if erasure.already:
        print(f"Person {person_id} was erased already at {erasure.erased_at}; nothing changed.")
        return
    print(f"Person {person_id} erased: {len(erasure.lead_ids)} lead(s) anonymised, "
          f"{erasure.events} event(s) tombstoned; person.erased emitted.")
