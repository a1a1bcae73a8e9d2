"""Erasure and the export's reads, in SQL (the ``PrivacyRepository`` port).

Erasure is rare and must be complete rather than fast: rows are read, changed by the pure rules
of ``shared/erasure.py`` and written back one by one, in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from typing import Any

import orjson
from sqlalchemy import delete, func, or_, select, update

from leadrelay.shared.adapters.sql import schema as t
from leadrelay.shared.adapters.sql.transaction import SqlTransaction, record
from leadrelay.shared.erasure import (
    TOMBSTONE_MAX_BYTES,
    event_tombstone,
    is_erased,
    is_event_tombstone,
    scrubbed,
    tombstone_contact,
)
from leadrelay.shared.ports import PersonMerge

# Bound parameters per IN list (SQLite allows 32766; PostgreSQL 65535 per statement).
CHUNK = 500
ERASED_PAYLOAD = {"erased": True}
ERASED_NOTE = "erased"
# The key an erased event keeps: an identity key is a hash of the email or phone.
ERASED_KEY = "erased"


def chunks(values: Sequence[str]) -> Iterator[list[str]]:
    values = list(dict.fromkeys(values))
    for start in range(0, len(values), CHUNK):
        yield values[start:start + CHUNK]


def envelope_id(payload: bytes) -> str | None:
    try:
        document = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    found = document.get("id") if isinstance(document, dict) else None
    return found if isinstance(found, str) else None


class SqlPrivacy:
    def __init__(self, tx: SqlTransaction) -> None:
        self.tx = tx

    async def _overwrite_freed_space(self) -> None:
        """On SQLite, what this connection deletes or rewrites is zeroed in the file, not left in
        the page's free space (``secure_delete``; this connection only, the others keep their pace)."""
        if self.tx.dialect == "sqlite":
            await self.tx.conn.exec_driver_sql("PRAGMA secure_delete=ON")

    async def erase_person(self, person_id: str, data: Mapping[str, Any], values: frozenset[str]) -> None:
        await self._overwrite_freed_space()
        conn = self.tx.conn
        await conn.execute(update(t.persons).where(t.persons.c.person_id == person_id).values(data=dict(data)))
        await conn.execute(delete(t.person_keys).where(t.person_keys.c.person_id == person_id))
        await conn.execute(delete(t.person_match_keys).where(t.person_match_keys.c.person_id == person_id))
        merges = t.person_merges
        rows = await conn.execute(select(merges.c.merge_id, merges.c.person_id, merges.c.person_before).where(
            or_(merges.c.person_id == person_id, merges.c.from_person_id == person_id)))
        for row in rows.all():
            # The record before a merge into this person is theirs; before a merge of theirs into
            # another, the other's, which may quote them.
            before = ERASED_PAYLOAD if row.person_id == person_id else scrubbed(row.person_before, values)
            await conn.execute(update(merges).where(merges.c.merge_id == row.merge_id)
                               .values(person_before=before, identity_keys=[]))
        # Nobody can review whether an erased person is someone else: their open pairs are closed.
        pairs = t.duplicate_pairs
        await conn.execute(update(pairs).where(
            or_(pairs.c.person_id == person_id, pairs.c.other_person_id == person_id), pairs.c.state == "open")
            .values(state="kept_apart", decided_at=self.tx.clock(), decided_by=ERASED_NOTE))

    async def erase_leads(self, lead_ids: Sequence[str], values: frozenset[str]) -> int:
        await self._overwrite_freed_space()
        conn = self.tx.conn
        changed = 0
        for ids in chunks(lead_ids):
            for row in (await conn.execute(select(t.leads.c.lead_id, t.leads.c.contact)
                                           .where(t.leads.c.lead_id.in_(ids)))).all():
                if not is_erased(row.contact):
                    changed += 1
                    await conn.execute(update(t.leads).where(t.leads.c.lead_id == row.lead_id).values(
                        contact=tombstone_contact(row.contact or {}), identity_key=f"{ERASED_KEY}:{row.lead_id}"))
            await self._scrub(t.lead_history, "detail", ids, values)
            await self._scrub(t.decisions, "explanation", ids, values)
            await self._scrub(t.fairness_ledger, "reason", ids, values)
            for table, column, waiting in ((t.deliveries, "message", ("pending", "sending")),
                                           (t.webhook_deliveries, "payload", ("pending", "sending", "dead"))):
                await self._scrub(table, "last_error", ids, values)
                await conn.execute(update(table).where(table.c.lead_id.in_(ids), table.c.state.in_(waiting))
                                   .values(state="cancelled", last_error="the person was erased"))
                await conn.execute(update(table).where(table.c.lead_id.in_(ids)).values({column: ERASED_PAYLOAD}))
            await conn.execute(delete(t.idempotency_keys).where(t.idempotency_keys.c.lead_id.in_(ids)))
        return changed

    async def _scrub(self, table: Any, column: str, lead_ids: list[str], values: frozenset[str]) -> None:
        rows = await self.tx.conn.execute(select(table.c.id, table.c[column]).where(table.c.lead_id.in_(lead_ids)))
        for row in rows.all():
            value = row[1]
            clean = scrubbed(value, values)
            if clean != value:
                await self.tx.conn.execute(update(table).where(table.c.id == row.id).values({column: clean}))

    async def erase_events(self, keys: Sequence[str]) -> int:
        await self._overwrite_freed_space()
        conn = self.tx.conn
        outbox = t.outbox
        erased_ids: set[str] = set()
        count = 0
        for some in chunks(keys):
            rows = await conn.execute(select(outbox.c.seq, outbox.c.event_id, outbox.c.payload)
                                      .where(outbox.c.key.in_(some)))
            for row in rows.all():
                payload = bytes(row.payload)
                if is_event_tombstone(payload):
                    continue
                erased_ids.update(i for i in (row.event_id, envelope_id(payload)) if i)
                count += 1
                await conn.execute(update(outbox).where(outbox.c.seq == row.seq).values(
                    payload=event_tombstone(row.event_id), key=ERASED_KEY))
        letters = t.dead_letters
        for ids in chunks(sorted(erased_ids)):
            rows = await conn.execute(select(letters.c.id, letters.c.event_id).where(letters.c.event_id.in_(ids)))
            for row in rows.all():
                await conn.execute(update(letters).where(letters.c.id == row.id).values(
                    payload=event_tombstone(row.event_id), error=ERASED_NOTE))
        return count

    async def drop_old_versions(self) -> bool:
        # SQLite's write-ahead log keeps the pages as they were before the erasure until a
        # checkpoint copies the new ones over them; TRUNCATE then empties the log file. It waits
        # (busy_timeout) for readers still on an older snapshot. PostgreSQL's dead row versions
        # are autovacuum's (docs/operations.md, "Erasure").
        if self.tx.dialect != "sqlite":
            return True
        async with self.tx.conn.engine.connect() as conn:
            raw = await conn.get_raw_connection()
            cursor = await raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # type: ignore[union-attr]
            busy, *_ = await cursor.fetchone()
        return busy == 0

    async def erased_events(self, event_ids: Collection[str]) -> set[str]:
        # Only a tombstone is this short: an event's own payload is never read here.
        rows = await self.tx.conn.execute(select(t.outbox.c.event_id, t.outbox.c.payload).where(
            t.outbox.c.event_id.in_(list(event_ids)), func.length(t.outbox.c.payload) <= TOMBSTONE_MAX_BYTES))
        return {row.event_id for row in rows if is_event_tombstone(bytes(row.payload))}

    async def merges_of(self, person_id: str) -> list[PersonMerge]:
        merges = t.person_merges
        rows = await self.tx.conn.execute(
            select(merges).where(or_(merges.c.person_id == person_id, merges.c.from_person_id == person_id))
            .order_by(merges.c.merged_at, merges.c.merge_id))
        return [record(PersonMerge, row) for row in rows]
