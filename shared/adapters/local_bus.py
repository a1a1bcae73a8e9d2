"""The embedded event log: the SQLite outbox table read in ``seq`` order by each consumer group.

Publishing appends a row (fsynced before ``publish`` returns); a group's position is a row in
``consumer_offsets``. Concurrent publishes are group-committed: while one append commits, the
next ones queue, and the writer appends everything queued in one transaction (one fsync for many
requests). Each ``publish`` returns only once the transaction holding its own event committed,
and raises if that transaction failed, so a 202 still means "this lead is on disk". Because SQLite has one writer at a time and ``seq`` is assigned inside
the write transaction, rows become visible in ``seq`` order, so a reader never skips a row that
commits late. (That is not true on PostgreSQL, which is why distributed mode uses Kafka.)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from sqlalchemy import func, select

from leadrelay.shared.adapters.sql import schema as t
from leadrelay.shared.adapters.sql.store import SqlStore, SqlUnitOfWork
from leadrelay.shared.events import Envelope
from leadrelay.shared.group_commit import GroupCommit
from leadrelay.shared.ports import BusUnavailable, Delivery, StoreUnavailable, UnitOfWork
from leadrelay.shared.tracing import traced

# Another process (a CLI import) may append to the file; nothing wakes us for that, so poll.
_POLL_INTERVAL_S = 0.5
OFFSET_COMMIT_INTERVAL_S = 1.0


class LocalSubscription:
    def __init__(self, bus: LocalBus, group: str, topics: Sequence[str]) -> None:
        self.bus = bus
        self.group = group
        self.topics = list(topics)
        self.wakeup = asyncio.Event()
        self.position: int | None = None
        self.pending_position: int | None = None
        self.committed_at = 0.0

    async def _load_position(self) -> int:
        async with self.bus.store.transaction() as uow:
            return await uow.log.position(self.group)

    async def poll(self, max_records: int = 100, timeout_s: float = 1.0) -> list[Delivery]:
        if self.position is None:
            self.position = await self._load_position()
        # Clear before reading: a commit that lands while we read sets it again, so no wake-up
        # is lost between an empty read and the wait.
        self.wakeup.clear()
        deliveries = await self._fetch(max_records)
        if deliveries:
            return deliveries
        try:
            await asyncio.wait_for(self.wakeup.wait(), timeout=min(timeout_s, _POLL_INTERVAL_S))
        except TimeoutError:
            pass
        return await self._fetch(max_records)

    async def _fetch(self, max_records: int) -> list[Delivery]:
        async with self.bus.store.read() as uow:
            rows = await uow.log.read(self.topics, after=self.position, limit=max_records)
        if rows:
            self.position = rows[-1].seq
        return [Delivery(row.topic, row.key, row.payload, 0, row.seq) for row in rows]

    async def lag(self) -> dict[int, int]:
        """The events of this group's topics after its read position, as partition 0. Counted,
        not ``newest seq - position``: seq runs over every topic, so that difference would also
        count the events of topics this group does not read. ``ix_outbox_topic_seq`` keeps the count to the unread rows."""
        position = self.position
        if position is None:
            return {}
        try:
            async with self.bus.store.read() as uow:
                return {0: await _count_after(uow, self.topics, position)}
        except StoreUnavailable as exc:
            raise BusUnavailable(str(exc)) from exc

    async def commit(self, deliveries: Sequence[Delivery]) -> None:
        """Stores the position at most every OFFSET_COMMIT_INTERVAL_S: every consumer records the
        events it handled in its own transaction, so a position that lags after a crash costs
        only redeliveries that change nothing, and a busy log saves an fsync per batch."""
        if not deliveries:
            return
        self.pending_position = max(d.offset for d in deliveries)
        if time.monotonic() - self.committed_at >= OFFSET_COMMIT_INTERVAL_S:
            await self._store_position()

    async def _store_position(self) -> None:
        if self.pending_position is None:
            return
        position, self.pending_position = self.pending_position, None
        async with self.bus.store.transaction() as uow:
            await uow.log.store_position(self.group, position)
        self.committed_at = time.monotonic()

    async def close(self) -> None:
        self.bus.subscriptions.discard(self)
        await self._store_position()


async def _count_after(uow: SqlUnitOfWork, topics: Sequence[str], position: int) -> int:
    query = select(func.count()).select_from(t.outbox).where(t.outbox.c.topic.in_(list(topics)),
                                                             t.outbox.c.seq > position)
    return int((await uow.tx.conn.execute(query)).scalar_one())


class LocalBus:
    def __init__(self, store: SqlStore) -> None:
        self.store = store
        self.subscriptions: set[LocalSubscription] = set()
        store.commit_listeners.append(self._wake)
        # Concurrent publishes share one transaction (one fsync) per round.
        self.appends = GroupCommit(store)

    def _wake(self, topics: set[str]) -> None:
        for subscription in self.subscriptions:
            if topics.intersection(subscription.topics):
                subscription.wakeup.set()

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def publish(self, envelope: Envelope) -> None:
        envelope = traced(envelope)  # in the caller's context: its trace goes with the event
        payload = envelope.to_bytes()

        async def append(uow: UnitOfWork) -> None:
            await uow.outbox.append_if_new(envelope.topic, envelope.key, payload, envelope.id)

        try:
            await self.appends.write(append)
        except Exception as exc:  # every caller of the round answers 503; none may say "accepted"
            raise BusUnavailable(str(exc)) from exc

    def subscribe(self, group: str, topics: Sequence[str]) -> LocalSubscription:
        subscription = LocalSubscription(self, group, topics)
        self.subscriptions.add(subscription)
        return subscription
