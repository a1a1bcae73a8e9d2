"""The outbox relay (distributed mode): publishes committed outbox rows to Kafka, in order.

Woken right after a commit in this process for speed; polls as the safety net for rows other
processes committed. One relay publishes at a time (a PostgreSQL advisory lock), so events for
one key reach Kafka in the order they were committed. A crash between publishing and marking
republishes a few rows; consumers dedup on event ids.
"""

from __future__ import annotations

import asyncio
import logging

from leadrelay.shared.adapters.kafka_bus import KafkaBus
from leadrelay.shared.adapters.sql.store import SqlStore
from leadrelay.shared.clock import as_utc
from leadrelay.shared.metrics import Metrics

log = logging.getLogger(__name__)

BATCH = 500
POLL_INTERVAL_S = 0.2


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
            if not await uow.log.take_relay_turn():
                return 0
            rows = await uow.log.unpublished(BATCH)
            if not rows:
                self.metrics.outbox_lag.set(0)
                return 0
            self.metrics.outbox_lag.set((self.store.clock() - as_utc(rows[0].created_at)).total_seconds())
            await self.bus.publish_records([(r.topic, r.key, r.payload) for r in rows])
            await uow.log.mark_published([r.seq for r in rows])
        return len(rows)
