"""Importing a file of leads (CSV or XLSX) through the same validation and durable publish as the API.

Guarantees:
- Each row's dedup key is a hash of its content, so importing the same file twice (after a crash
  half-way, say) adds nothing the first run already accepted ("already imported").
- Every rejected row is written to the rejects file as it was, with its line number and the reason,
  as it is met (streaming: nothing but the counts is kept in memory).
- A dry run validates every row and looks up what is already imported and who is already known,
  and publishes nothing.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import orjson

from leadrelay.services.intake.accept import accept_lead
from leadrelay.services.intake.lead_files import FileRow
from leadrelay.services.intake.validation import parse_lead, to_contact
from leadrelay.shared.identity import identity_keys
from leadrelay.shared.problems import Problem
from leadrelay.shared.runtime import Runtime

# Rows accepted at once. Enough that their appends fill a group commit while one commits; small
# enough that a 5xx stops the import within a window's worth of rows.
ROWS_IN_FLIGHT = 64

# Whether any of these identity keys belongs to a person we already know (the shell asks the store).
KnownPerson = Callable[[list[str]], Awaitable[bool]]


@dataclass
class ImportReport:
    new: int = 0  # rows accepted for the first time, of people we did not know
    merged: int = 0  # rows accepted for the first time whose email or phone is a person we already know
    already: int = 0  # rows an earlier import accepted (their idempotency record was there): nothing added
    rejected: int = 0  # rows that failed validation (each one in the rejects file)
    dry_run: bool = False

    @property
    def accepted(self) -> int:
        return self.new + self.merged + self.already


def rejects_path(path: Path) -> Path:
    """Where a file's rejected rows go: beside it, ``leads.csv`` → ``leads.rejects.csv``."""
    return path.with_name(f"{path.stem}.rejects.csv")


class RejectsFile:
    """The rejected rows, as CSV (UTF-8 with a byte-order mark, so Excel opens it with Chinese intact):
    ``line``, ``reason``, then the row's own columns. Created at the first rejected row; a stale one
    from an earlier run is removed when this run rejects nothing."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: IO[str] | None = None
        self._writer: csv.DictWriter | None = None
        self._columns: list[str] = []

    def add(self, row: FileRow, reason: str) -> None:
        if self._writer is None:
            self._handle = self.path.open("w", newline="", encoding="utf-8-sig")
            self._columns = ["line", "reason", *row.cells]
            self._writer = csv.DictWriter(self._handle, self._columns, extrasaction="ignore")
            self._writer.writeheader()
        self._writer.writerow({**row.cells, "line": row.line, "reason": reason})

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
        else:
            self.path.unlink(missing_ok=True)


@contextmanager
def rejects_file(path: Path) -> Iterator[RejectsFile]:
    rejects = RejectsFile(path)
    try:
        yield rejects
    finally:
        rejects.close()


def row_dedup_key(row: FileRow) -> tuple[str, bytes]:
    raw = orjson.dumps(row.body, option=orjson.OPT_SORT_KEYS)
    return "csv:" + hashlib.sha256(raw).hexdigest(), raw


async def import_rows(runtime: Runtime, rows: Iterator[FileRow], source: str, rejects: RejectsFile, *,
                      known_person: KnownPerson | None = None, dry_run: bool = False,
                      progress: Callable[[], None] = lambda: None) -> ImportReport:
    """Accepts the rows, up to ``ROWS_IN_FLIGHT`` at once: their durable appends then share
    commits (the log group-commits), which is what makes an import run at the speed of the disk
    rather than of one fsync per row. Memory stays bounded by that window, whatever the file's size."""
    report = ImportReport(dry_run=dry_run)

    async def one(row: FileRow) -> None:
        try:
            lead = parse_lead(row.body)
            contact = to_contact(lead)
            dedup_key, raw = row_dedup_key(row)
            if dry_run:
                async with runtime.store.read() as uow:
                    done = await uow.idempotency.get(source, dedup_key) is not None
            else:
                done = (await accept_lead(runtime, source=source, source_kind="csv", contact=contact,
                                          external_id=lead.external_id, dedup_key=dedup_key,
                                          body_fingerprint=raw)).replayed
            if done:
                report.already += 1
                return
            if known_person is not None and (contact.email or contact.phone):
                # Only the contact's own keys: the source's key is new for every row.
                keys = identity_keys(contact.email, contact.phone, source, None, runtime.settings.identity_salt)
                if await known_person(list(keys)):
                    report.merged += 1
                    return
            report.new += 1
        except Problem as problem:
            if problem.status >= 500:
                raise
            rejects.add(row, "; ".join(f"{e['field']}: {e['reason']}" for e in problem.errors) or problem.detail)
            report.rejected += 1
        finally:
            progress()

    in_flight: set[asyncio.Task[None]] = set()
    try:
        for row in rows:
            if len(in_flight) >= ROWS_IN_FLIGHT:
                finished, in_flight = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
                for task in finished:
                    task.result()  # the store is away (a 5xx): stop, as one row at a time would
            in_flight.add(asyncio.create_task(one(row)))
        for task in [*in_flight]:
            await task
            in_flight.discard(task)
    finally:
        for task in in_flight:
            task.cancel()
        await asyncio.gather(*in_flight, return_exceptions=True)
    return report
