"""The leads ``leadrelay policy simulate`` replays: read from a .jsonl or .csv file, validated and
normalised as intake would, in file order; rows intake would refuse are set apart with the reason.
Also when leads that carry no ``received_at`` arrive, and how long an assigned lead stays open."""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

# Leads are prepared (validated and normalised as intake would) in worker processes when a
# file is big: that costs several times the simulation itself.
_PARALLEL_FROM = 20_000
_CHUNK = 5_000


def count_lines(path: Path) -> int:
    """How many lines the file has (the progress bar's total), read in blocks rather than parsed."""
    count = 0
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            count += block.count(b"\n")
    return count


def arrival_plan(start: str | None, spacing: str, close_after: str,
                 tz: tzinfo) -> tuple[datetime, timedelta, timedelta | None]:
    """(first arrival, gap between arrivals, time an assigned lead stays open or None for ever) from
    the command's options; the first arrival defaults to next Monday 09:00 in ``tz``, and a naive
    ``start`` is in ``tz``. Raises ValueError for a value that does not parse."""
    from leadrelay.shared.clock import system_clock
    from leadrelay.shared.policy import parse_duration

    gap = parse_duration(spacing)
    closing = None if close_after.strip().lower() == "never" else parse_duration(close_after)
    if start:
        first = datetime.fromisoformat(start)
        first = first if first.tzinfo else first.replace(tzinfo=tz)
    else:
        today = system_clock().astimezone(tz).date()
        monday = today + timedelta(days=(7 - today.weekday()) % 7 or 7)
        first = datetime(monday.year, monday.month, monday.day, 9, tzinfo=tz)
    return first, gap, closing


def _lead_records(path: Path) -> Any:
    """(line number, record) for each lead of a .jsonl or .csv file; a record is the API body
    plus ``source`` and ``received_at`` (for CSV, columns of those names)."""
    if path.suffix.lower() == ".csv":
        from leadrelay.services.intake.lead_files import read_rows

        for row in read_rows(path):
            line, body = row.line, row.body
            attributes = body.get("attributes") or {}
            record = {**body, "attributes": {k: v for k, v in attributes.items() if k not in ("source", "received_at")}}
            for key in ("source", "received_at"):
                if key in attributes:
                    record[key] = attributes[key]
            if not record["attributes"]:
                del record["attributes"]
            yield line, record
        return
    import orjson

    with path.open("rb") as handle:
        for line, raw in enumerate(handle, start=1):
            if raw.strip():
                try:
                    yield line, orjson.loads(raw)
                except orjson.JSONDecodeError as exc:
                    yield line, exc


def _sim_leads(chunk: list[tuple[int, Any]]) -> tuple[list[Any], list[tuple[int, str]]]:
    """Turns records into simulation leads; returns (leads, rejected (line, reason))."""
    from datetime import UTC

    from leadrelay.services.intake.validation import parse_lead, to_contact
    from leadrelay.shared.lab.simulation import SimLead
    from leadrelay.shared.policy.facts import lead_facts
    from leadrelay.shared.problems import Problem

    leads, rejected = [], []
    for line, record in chunk:
        if not isinstance(record, dict):
            rejected.append((line, f"not a JSON object ({record})" if isinstance(record, Exception) else "not an object"))
            continue
        body = dict(record)
        source = str(body.pop("source", None) or "simulated")
        received = body.pop("received_at", None)
        body.pop("lead_id", None)
        try:
            contact = to_contact(parse_lead(body))
            at = datetime.fromisoformat(received) if received else None
        except Problem as exc:
            rejected.append((line, exc.detail))
            continue
        except ValueError:
            rejected.append((line, f"received_at: not an ISO 8601 time: {received!r}"))
            continue
        if at is not None:
            at = at.astimezone(UTC) if at.tzinfo is not None else at
        facts = lead_facts(contact, source)
        leads.append(SimLead(facts=facts, source=source, received_at=at, lead_id=f"line-{line}",
                             person=contact.email or contact.phone))
    return leads, rejected


def prepared_leads(path: Path, total: int, rejected: list[tuple[int, str]], naive_tz: Any) -> Any:
    """Simulation leads in file order; rejected rows are collected into ``rejected``."""
    from itertools import islice

    def fix(leads: list[Any]) -> list[Any]:
        if naive_tz is None:
            return leads
        from dataclasses import replace

        return [replace(lead, received_at=lead.received_at.replace(tzinfo=naive_tz))
                if lead.received_at is not None and lead.received_at.tzinfo is None else lead for lead in leads]

    records = _lead_records(path)
    if total < _PARALLEL_FROM:
        while chunk := list(islice(records, _CHUNK)):
            leads, bad = _sim_leads(chunk)
            rejected += bad
            yield from fix(leads)
        return
    from collections import deque
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=2) as pool:
        pending: deque[Any] = deque()
        while True:
            while len(pending) < 4 and (chunk := list(islice(records, _CHUNK))):
                pending.append(pool.submit(_sim_leads, chunk))
            if not pending:
                break
            leads, bad = pending.popleft().result()
            rejected += bad
            yield from fix(leads)
