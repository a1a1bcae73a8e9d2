"""The outbox relay (distributed mode) against real PostgreSQL and real Kafka.

What the services rely on: an event a handler emits in its transaction reaches Kafka after the
commit, in commit order for its key, and the row is then marked so it is not published again;
one relay publishes at a time however many processes run one (the advisory lock); rows another
process committed are found by the polling pass; a publish that fails leaves the rows for the
next pass. Each test has its own database and its own topics; every wait is bounded.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy import select

from leadrelay.shared import topics
from leadrelay.shared.adapters.kafka_bus import KafkaBus, KafkaSubscription
from leadrelay.shared.adapters.outbox_relay import OutboxRelay
from leadrelay.shared.adapters.sql import schema
from leadrelay.shared.adapters.sql.store import SqlStore
from leadrelay.shared.clock import as_utc
from leadrelay.shared.events import Envelope, LeadContact, LeadQualified, LeadReceived, new_id
from leadrelay.shared.metrics import Metrics
from leadrelay.shared.ports import BusUnavailable, Delivery
from tests.conftest import FakeClock, infra, scratch_database

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.timeout(90)]

TOPICS = (topics.LEAD_RECEIVED, topics.LEAD_QUALIFIED)
EPOCH = datetime(2031, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
# Bounds every wait for Kafka: a lost event fails the test within this, never hangs it.
RECEIVE_TIMEOUT_S = 15.0
# How long a consumer that has everything keeps polling to catch a duplicate arriving late.
QUIET_S = 1.0


def event(key: str, n: int = 0, topic: str = topics.LEAD_RECEIVED) -> Envelope:
    lead_id = new_id()
    contact = LeadContact(company=f"Company {n}", employees=n)
    payload = (LeadReceived(lead_id=lead_id, source="relay", received_at=EPOCH, contact=contact, identity_keys=[key])
               if topic == topics.LEAD_RECEIVED else
               LeadQualified(lead_id=lead_id, person_id=new_id(), source="relay", received_at=EPOCH, contact=contact,
                             score=n, grade="cold", reasons=[], policy_version=1))
    return Envelope.wrap(payload, source="relay-test", subject=lead_id, key=key, correlation_id=lead_id, time=EPOCH)


def ids(deliveries: Sequence[Delivery]) -> list[str]:
    return [Envelope.from_bytes(d.payload).id for d in deliveries]


@dataclass
class Relaying:
    """One scratch database, one topic prefix on the shared broker, and what the test opened."""

    url: str
    bootstrap: str
    clock: FakeClock
    prefix: str = field(default_factory=lambda: f"relay-{uuid.uuid4().hex[:10]}.")
    stores: list[SqlStore] = field(default_factory=list)
    buses: list[KafkaBus] = field(default_factory=list)
    subscriptions: list[KafkaSubscription] = field(default_factory=list)

    def store(self) -> SqlStore:
        """A store on the test's database, opened the way another process would open it."""
        store = SqlStore(self.url, clock=self.clock)
        self.stores.append(store)
        return store

    def bus(self, bootstrap: str | None = None) -> KafkaBus:
        bus = KafkaBus(bootstrap or self.bootstrap, partitions=3, prefix=self.prefix)
        self.buses.append(bus)
        return bus

    def relay(self, store: SqlStore | None = None, bus: KafkaBus | None = None) -> OutboxRelay:
        return OutboxRelay(store or self.store(), bus or self.bus(), Metrics())

    def subscribe(self, group: str = "reader") -> KafkaSubscription:
        subscription = self.bus().subscribe(group, TOPICS)
        self.subscriptions.append(subscription)
        return subscription

    async def close(self) -> None:
        for subscription in self.subscriptions:
            await subscription.close()
        for bus in self.buses:
            await bus.stop()
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await admin.start()
        try:
            await admin.delete_topics([self.prefix + name for name in TOPICS])
        finally:
            await admin.close()
        for store in self.stores:
            await store.dispose()


@pytest.fixture
async def relaying() -> AsyncIterator[Relaying]:
    """A fresh migrated PostgreSQL database and this test's Kafka topics (missing either fails)."""
    bootstrap = infra("LEADRELAY_TEST_KAFKA")
    async with scratch_database() as url:
        world = Relaying(url, bootstrap, FakeClock(EPOCH))
        await world.bus().ensure_topics(TOPICS)
        try:
            yield world
        finally:
            await world.close()


async def emit(store: SqlStore, *envelopes: Envelope) -> None:
    """One transaction emitting ``envelopes``, as a handler's would."""
    async with store.transaction() as uow:
        for envelope in envelopes:
            await uow.outbox.emit(envelope)


async def published_at(store: SqlStore) -> dict[str, datetime | None]:
    """Each outbox row's published_at, by event id (no port reads it)."""
    async with store.engine.connect() as conn:
        rows = await conn.execute(select(schema.outbox.c.event_id, schema.outbox.c.published_at))
        return {row.event_id: as_utc(row.published_at) for row in rows}


async def receive(subscription: KafkaSubscription, count: int) -> list[Delivery]:
    """Polls until ``count`` deliveries arrived (failing after RECEIVE_TIMEOUT_S), then for
    QUIET_S more: anything arriving then is a duplicate and is returned too."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + RECEIVE_TIMEOUT_S
    got: list[Delivery] = []
    while len(got) < count:
        assert loop.time() < deadline, f"{len(got)} of {count} events reached Kafka after {RECEIVE_TIMEOUT_S}s"
        got += await subscription.poll(max_records=500, timeout_s=0.25)
    quiet_until = loop.time() + QUIET_S
    while loop.time() < quiet_until:
        got += await subscription.poll(max_records=500, timeout_s=0.25)
    return got


async def test_committed_rows_reach_kafka_in_commit_order_per_key_and_are_marked_published(relaying: Relaying):
    store = relaying.store()
    relay = relaying.relay(store)
    keys = ["identity:a", "identity:b", "identity:c"]
    committed: dict[str, list[str]] = defaultdict(list)
    everything: dict[str, Envelope] = {}
    for n in range(4):  # four transactions, each emitting for every key, on both topics
        batch = [event(key, n, TOPICS[(n + i) % 2]) for i, key in enumerate(keys)]
        await emit(store, *batch)
        for envelope in batch:
            committed[envelope.key].append(envelope.id)
            everything[envelope.id] = envelope
        relaying.clock.advance(seconds=1)

    assert await relay.publish_pending() == 12

    marks = await published_at(store)
    assert marks == {event_id: relaying.clock.now for event_id in everything}
    async with store.read() as uow:
        assert await uow.log.unpublished(100) == []
    assert await relay.publish_pending() == 0  # marked: a second pass publishes nothing

    deliveries = await receive(relaying.subscribe(), 12)
    assert sorted(ids(deliveries)) == sorted(everything), "each event exactly once"
    arrived: dict[str, list[str]] = defaultdict(list)
    partitions: dict[tuple[str, str], set[int]] = defaultdict(set)
    for delivery in sorted(deliveries, key=lambda d: (d.topic, d.partition, d.offset)):
        envelope = everything[Envelope.from_bytes(delivery.payload).id]
        assert (delivery.topic, delivery.key, delivery.payload) == (envelope.topic, envelope.key, envelope.to_bytes())
        arrived[delivery.key].append(envelope.id)
        partitions[(delivery.topic, delivery.key)].add(delivery.partition)
    # Per topic, a key's events sit in one partition in commit order.
    for key in keys:
        for topic in TOPICS:
            expected = [i for i in committed[key] if everything[i].topic == topic]
            assert [i for i in arrived[key] if everything[i].topic == topic] == expected
    assert all(len(found) == 1 for found in partitions.values()), "one key, one partition"


async def test_the_lag_gauge_reads_the_age_of_the_oldest_unpublished_row(relaying: Relaying):
    store = relaying.store()
    relay = relaying.relay(store)

    def lag() -> float | None:
        return relay.metrics.registry.get_sample_value("leadrelay_outbox_lag_seconds")

    await emit(store, event("identity:a", 0))
    relaying.clock.advance(seconds=3)
    await emit(store, event("identity:a", 1))
    relaying.clock.advance(seconds=2.5)

    assert await relay.publish_pending() == 2
    assert lag() == pytest.approx(5.5)  # the older row's age on the store's clock, not the newer's

    relaying.clock.advance(seconds=60)
    assert await relay.publish_pending() == 0
    assert lag() == 0.0  # nothing waiting: no lag, however long since the last row


async def test_two_relays_at_once_publish_each_row_once(relaying: Relaying):
    # Two processes: each its own store (connection pool) and its own Kafka producer.
    first_store, second_store = relaying.store(), relaying.store()
    relays = [relaying.relay(first_store), relaying.relay(second_store)]
    for relay in relays:  # warmed up, so both passes start on an equal footing and overlap
        await relay.bus.start()
        assert await relay.publish_pending() == 0
    emitted: list[str] = []
    rounds, per_round = 5, 20

    for n in range(rounds):
        batch = [event(f"identity:{i % 4}", n * per_round + i) for i in range(per_round)]
        await emit((first_store, second_store)[n % 2], *batch)
        emitted += [envelope.id for envelope in batch]

        counts = await asyncio.gather(*(relay.publish_pending() for relay in relays))

        assert sorted(counts) == [0, per_round], f"round {n}: the relays published {counts}"
    for store in (first_store, second_store):
        async with store.read() as uow:
            assert await uow.log.unpublished(500) == []

    deliveries = await receive(relaying.subscribe(), len(emitted))
    assert Counter(ids(deliveries)) == Counter(emitted), "each row reached Kafka exactly once"


async def test_rows_another_process_commits_are_published_by_the_polling_pass(relaying: Relaying):
    relay_store, other_process = relaying.store(), relaying.store()
    relay = relaying.relay(relay_store)
    subscription = relaying.subscribe()
    await subscription.poll(timeout_s=0.2)  # joined before anything is published
    stop = asyncio.Event()
    running = asyncio.create_task(relay.run(stop))
    try:
        # A commit in the relay's own process wakes it…
        own = event("identity:a", 0)
        await emit(relay_store, own)
        assert relay.wakeup.is_set()
        assert ids(await receive(subscription, 1)) == [own.id]

        # …one in another process cannot: only the relay's poll finds those rows.
        theirs = [event("identity:a", 1), event("identity:b", 2, topics.LEAD_QUALIFIED)]
        await emit(other_process, *theirs)
        assert not relay.wakeup.is_set()
        assert sorted(ids(await receive(subscription, 2))) == sorted(e.id for e in theirs)
    finally:
        stop.set()
        await asyncio.wait_for(running, 10)

    marks = await published_at(other_process)
    assert set(marks) == {own.id} | {e.id for e in theirs}
    assert None not in marks.values()


async def test_a_publish_that_fails_leaves_the_rows_for_the_next_pass(relaying: Relaying):
    store = relaying.store()
    envelopes = [event("identity:a", n) for n in range(3)]
    await emit(store, *envelopes)
    broker_away = relaying.relay(store, relaying.bus("127.0.0.1:1"))  # nothing listens on port 1

    with pytest.raises(BusUnavailable):
        await broker_away.publish_pending()

    assert set((await published_at(store)).values()) == {None}
    relaying.clock.advance(seconds=10)
    assert await relaying.relay(store).publish_pending() == 3
    assert set((await published_at(store)).values()) == {relaying.clock.now}
    deliveries = await receive(relaying.subscribe(), 3)
    assert ids(deliveries) == [e.id for e in envelopes]

