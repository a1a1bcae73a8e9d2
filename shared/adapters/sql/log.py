"""The outbox table read as an event log: consumer positions for the embedded bus, and the
unpublished rows the Kafka relay publishes. Adapter-to-adapter API; no service sees it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, text, update

from leadrelay.shared.adapters.sql import schema as t
from leadrelay.shared.adapters.sql.transaction import SqlTransaction

RELAY_LOCK_ID = 0x1EAD5E1A  # pg advisory lock: one relay publishes at a time


@dataclass(frozen=True)
class LogRow:
    seq: int
    topic: str
    key: str
    payload: bytes
    created_at: datetime | None = None


class SqlLog:
    def __init__(self, tx: SqlTransaction) -> None:
        self.tx = tx

    async def position(self, group: str) -> int:
        """The group's stored position, created at 0 on first use."""
        await self.tx.conn.execute(
            self.tx.insert_ignore(t.consumer_offsets).values(group_name=group, position=0))
        return (await self.tx.conn.execute(
            select(t.consumer_offsets.c.position).where(t.consumer_offsets.c.group_name == group))).scalar_one()

    async def store_position(self, group: str, position: int) -> None:
        await self.tx.conn.execute(update(t.consumer_offsets).where(t.consumer_offsets.c.group_name == group)
                                   .values(position=position))

    async def read(self, topics: Sequence[str], after: int, limit: int) -> list[LogRow]:
        rows = await self.tx.conn.execute(
            select(t.outbox.c.seq, t.outbox.c.topic, t.outbox.c.key, t.outbox.c.payload)
            .where(t.outbox.c.topic.in_(list(topics)), t.outbox.c.seq > after)
            .order_by(t.outbox.c.seq).limit(limit))
        return [LogRow(row.seq, row.topic, row.key, bytes(row.payload)) for row in rows]

    async def take_relay_turn(self) -> bool:
        """PostgreSQL only: True if this transaction holds the relay's lock until it ends."""
        return bool((await self.tx.conn.execute(text("SELECT pg_try_advisory_xact_lock(:id)"),
                                                {"id": RELAY_LOCK_ID})).scalar_one())

    async def unpublished(self, limit: int) -> list[LogRow]:
        rows = await self.tx.conn.execute(
            select(t.outbox.c.seq, t.outbox.c.topic, t.outbox.c.key, t.outbox.c.payload, t.outbox.c.created_at)
            .where(t.outbox.c.published_at.is_(None)).order_by(t.outbox.c.seq).limit(limit))
        return [LogRow(row.seq, row.topic, row.key, bytes(row.payload), row.created_at) for row in rows]

    async def mark_published(self, seqs: Sequence[int]) -> None:
        await self.tx.conn.execute(update(t.outbox).where(t.outbox.c.seq.in_(list(seqs)))
                                   .values(published_at=self.tx.clock()))
