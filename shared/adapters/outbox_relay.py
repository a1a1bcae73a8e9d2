"""The outbox relay (distributed mode): publishes committed outbox rows to Kafka, in order.

Woken right after a commit in this process for speed; polls as the safety net for rows other
processes committed. One relay publishes at a time (a PostgreSQL advisory lock), so events for
one key reach Kafka in the order they were committed. A crash between publishing and marking
republishes a few rows; consumers dedup on event ids.

Every pass measures the unpublished rows (``leadrelay_outbox_backlog``, and the oldest one's age
``leadrelay_outbox_lag_seconds``) whether or not this relay got the turn: every process runs a
relay, alerts take the max over them, and a relay that rarely gets the turn must not keep
reporting a backlog another relay cleared long ago.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from sqlalchemy import func, select

from leadrelay.shared.adapters.kafka_bus import KafkaBus
from leadrelay.shared.adapters.sql import schema as t
from leadrelay.shared.adapters.sql.store import SqlStore, SqlUnitOfWork
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
                self._record(*await _backlog(uow))
                return 0
            rows = await uow.log.unpublished(BATCH)
            # A short batch is the whole backlog; only a full one needs counting.
            count = len(rows) if len(rows) < BATCH else (await _backlog(uow))[0]
            self._record(count, rows[0].created_at if rows else None)
            if not rows:
                return 0
            await self.bus.publish_records([(r.topic, r.key, r.payload) for r in rows])
            await uow.log.mark_published([r.seq for r in rows])
        return len(rows)

    def _record(self, count: int, oldest: datetime | None) -> None:
        self.metrics.outbox_backlog.set(count)
        self.metrics.outbox_lag.set(0 if oldest is None else (self.store.clock() - as_utc(oldest)).total_seconds())


async def _backlog(uow: SqlUnitOfWork) -> tuple[int, datetime | None]:
    """How many rows wait to be published, and when the oldest was written (the partial index
    ``ix_outbox_unpublished`` holds just those rows)."""
    unpublished = t.outbox.c.published_at.is_(None)
    query = select(func.count(), func.min(t.outbox.c.created_at)).select_from(t.outbox).where(unpublished)
    count, oldest = (await uow.tx.conn.execute(query)).one()
    return int(count), oldest
