"""The outbox relay (distributed mode): publishes committed outbox rows to Kafka, in order.

Woken right after a commit in this process for speed; polls as the safety net for rows other
processes committed. One relay publishes at a time (a PostgreSQL advisory lock), so events for
one key reach Kafka in the order they were committed. A crash between publishing and marking
republishes a few rows; consumers dedup on event ids.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import select, text, update

from leadrelay.shared.adapters.kafka_bus import KafkaBus
from leadrelay.shared.adapters.sql import schema as t
from leadrelay.shared.adapters.sql.store import SqlStore, as_utc
from leadrelay.shared.metrics import Metrics

log = logging.getLogger(__name__)

BATCH = 500
POLL_INTERVAL_S = 0.2
RELAY_LOCK_ID = 0x1EAD5E1A


class OutboxRelay:
    def __init__(self, store: SqlStore, bus: KafkaBus, metrics: Metrics) -> None:
        self.store = store
        self.bus = bus
        self.metrics = metrics
        self.wakeup = asyncio.Event()
        store.commit_listeners.append(lambda _topics: self.wakeup.set())

    async def run(self, stop: asyncio.Event) -> None:
        delay = POLL_INTERVAL_S
        while not stop.is_set():
            self.wakeup.clear()  # before the pass, so a commit during it is not missed
            try:
                published = await self.publish_pending()
                delay = POLL_INTERVAL_S
            except Exception as exc:  # broker or database away: keep the rows, try again
                log.warning("outbox relay pass failed", extra={"error": type(exc).__name__})
                published = 0
                delay = min(delay * 2, 5.0)
            if published < BATCH:
                try:
                    await asyncio.wait_for(self.wakeup.wait(), timeout=delay)
                except TimeoutError:
                    pass

    async def publish_pending(self) -> int:
        async with self.store.transaction() as uow:
            got_lock = (await uow.conn.execute(text("SELECT pg_try_advisory_xact_lock(:id)"),
                                               {"id": RELAY_LOCK_ID})).scalar_one()
            if not got_lock:
                return 0
            rows = (await uow.conn.execute(
                select(t.outbox.c.seq, t.outbox.c.topic, t.outbox.c.key, t.outbox.c.payload, t.outbox.c.created_at)
                .where(t.outbox.c.published_at.is_(None)).order_by(t.outbox.c.seq).limit(BATCH)
            )).all()
            if not rows:
                self.metrics.outbox_lag.set(0)
                return 0
            self.metrics.outbox_lag.set((self.store.clock() - as_utc(rows[0].created_at)).total_seconds())
            await self.bus.publish_records([(r.topic, r.key, bytes(r.payload)) for r in rows])
            await uow.conn.execute(
                update(t.outbox).where(t.outbox.c.seq.in_([r.seq for r in rows])).values(published_at=self.store.clock())
            )
        return len(rows)
