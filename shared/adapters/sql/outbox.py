"""Events out (the outbox table) and in (processed ids, dead letters), in SQL."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, insert, select, update

from leadrelay.shared.adapters.sql import schema as t
from leadrelay.shared.adapters.sql.transaction import SqlTransaction, record
from leadrelay.shared.events import Envelope
from leadrelay.shared.ports import DeadLetterRecord
from leadrelay.shared.tracing import traced


class SqlOutbox:
    def __init__(self, tx: SqlTransaction) -> None:
        self.tx = tx

    async def emit(self, envelope: Envelope) -> None:
        envelope = traced(envelope)  # the handler's span: the next hop is its child
        await self.emit_raw(envelope.topic, envelope.key, envelope.to_bytes(), envelope.id)

    async def emit_many(self, envelopes: Sequence[Envelope]) -> None:
        if envelopes:
            envelopes = [traced(e) for e in envelopes]
            now = self.tx.clock()
            await self.tx.conn.execute(insert(t.outbox), [
                {"event_id": e.id, "topic": e.topic, "key": e.key, "payload": e.to_bytes(), "created_at": now}
                for e in envelopes])
            self.tx.emitted.update(e.topic for e in envelopes)

    async def emit_raw(self, topic: str, key: str, payload: bytes, event_id: str) -> None:
        await self.tx.conn.execute(insert(t.outbox).values(
            event_id=event_id, topic=topic, key=key, payload=payload, created_at=self.tx.clock()))
        self.tx.emitted.add(topic)

    async def append_if_new(self, topic: str, key: str, payload: bytes, event_id: str) -> bool:
        result = await self.tx.conn.execute(self.tx.insert_ignore(t.outbox).values(
            event_id=event_id, topic=topic, key=key, payload=payload, created_at=self.tx.clock()))
        if result.rowcount:
            self.tx.emitted.add(topic)
        return result.rowcount == 1


class SqlInbox:
    def __init__(self, tx: SqlTransaction) -> None:
        self.tx = tx

    async def mark_processed(self, consumer: str, event_id: str) -> bool:
        result = await self.tx.conn.execute(self.tx.insert_ignore(t.processed_events).values(
            consumer=consumer, event_id=event_id, processed_at=self.tx.clock()))
        return result.rowcount == 1

    async def mark_processed_many(self, consumer: str, event_ids: Sequence[str]) -> set[str]:
        if not event_ids:
            return set()
        at = self.tx.clock()
        rows = [{"consumer": consumer, "event_id": event_id, "processed_at": at} for event_id in dict.fromkeys(event_ids)]
        result = await self.tx.conn.execute(
            self.tx.insert_ignore(t.processed_events).values(rows).returning(t.processed_events.c.event_id))
        return {row[0] for row in result}

    async def forget(self, consumer: str, event_id: str) -> None:
        await self.tx.conn.execute(delete(t.processed_events).where(
            t.processed_events.c.consumer == consumer, t.processed_events.c.event_id == event_id))

    async def dead_letter(self, consumer: str, topic: str, event_id: str | None, payload: bytes, error: str) -> None:
        await self.tx.conn.execute(insert(t.dead_letters).values(
            consumer=consumer, topic=topic, event_id=event_id, payload=payload, error=error[:4000],
            created_at=self.tx.clock()))

    async def dead_letters(self, include_redriven: bool = False) -> list[DeadLetterRecord]:
        query = select(t.dead_letters).order_by(t.dead_letters.c.id)
        if not include_redriven:
            query = query.where(t.dead_letters.c.redriven_at.is_(None))
        return [record(DeadLetterRecord, row) for row in await self.tx.conn.execute(query)]

    async def mark_redriven(self, dead_letter_id: int) -> None:
        await self.tx.conn.execute(update(t.dead_letters).where(t.dead_letters.c.id == dead_letter_id)
                                   .values(redriven_at=self.tx.clock()))
