"""Harnesses that bind the port contract suites to each backend.

A contract test asks its harness for the adapter and for the few things only a backend knows
(another process's view of the same log, a log that cannot store, when a group has settled);
the assertions themselves are written once, in the ``test_*_contract.py`` modules.
"""

from __future__ import annotations

import asyncio
import uuid
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import pytest
import pytest_asyncio
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy import select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from leadrelay.shared import topics
from leadrelay.shared.adapters.kafka_bus import KafkaBus, KafkaSubscription
from leadrelay.shared.adapters.local_bus import LocalBus
from leadrelay.shared.adapters.sql import schema
from leadrelay.shared.adapters.sql.store import SqlStore
from leadrelay.shared.clock import as_utc
from leadrelay.shared.ports import Bus, Store, Subscription
from tests.conftest import FakeClock, infra, scratch_database
from tests.fakes import ConstraintViolation, MemoryStore, OutboxRow

# The topics the bus suite publishes to; Kafka here does not create topics on first use.
BUS_TOPICS = (topics.LEAD_RECEIVED, topics.LEAD_QUALIFIED)
# Bounds every wait of the bus suite, so a lost event fails the test instead of hanging it.
SETTLE_TIMEOUT_S = 20.0


class BusHarness(ABC):
    """One backend of the ``Bus`` port, with what the suite needs to know about it."""

    name: ClassVar[str]
    # Whether members of one group split its events (Kafka's partitions) or each read all of
    # them (the local log keeps one read position per member, loaded from the group's).
    members_split_work: ClassVar[bool]
    # Whether a second publish of an event id is stored again (Kafka) or dropped by the log
    # (the local log's outbox has a unique event_id).
    stores_repeated_ids: ClassVar[bool]

    bus: Bus

    def __init__(self) -> None:
        self.subscriptions: list[Subscription] = []

    def subscribe(self, group: str, names: Sequence[str] = (topics.LEAD_RECEIVED,)) -> Subscription:
        """``bus.subscribe``, remembered so the harness closes what a failed test left open."""
        subscription = self.bus.subscribe(group, names)
        self.subscriptions.append(subscription)
        return subscription

    @abstractmethod
    async def start(self) -> None: ...

    @abstractmethod
    async def another_bus(self) -> Bus:
        """A second bus over the same log, opened the way another process would open it."""

    @abstractmethod
    async def unavailable_bus(self) -> Bus:
        """A bus whose log cannot store anything."""

    def settled(self, members: Sequence[Subscription]) -> bool:
        """Whether these members of one group have their final share of the topics."""
        return True

    async def settle(self, members: Sequence[Subscription]) -> None:
        """Polls the members of one group (on empty topics) until the group has settled."""
        deadline = asyncio.get_running_loop().time() + SETTLE_TIMEOUT_S
        while True:
            batches = await asyncio.gather(*(member.poll(timeout_s=0.2) for member in members))
            assert not any(batches), "settle() is for a group whose topics are still empty"
            if self.settled(members):
                return
            assert asyncio.get_running_loop().time() < deadline, f"group not settled after {SETTLE_TIMEOUT_S}s"

    async def close(self) -> None:
        for subscription in self.subscriptions:
            await subscription.close()


class LocalHarness(BusHarness):
    name = "local"
    members_split_work = False
    stores_repeated_ids = False

    def __init__(self, tmp_path: Path) -> None:
        super().__init__()
        self.tmp_path = tmp_path
        self.url = f"sqlite+aiosqlite:///{tmp_path}/t.db"
        self.stores: list[SqlStore] = []

    async def start(self) -> None:
        store = SqlStore(self.url)
        self.stores.append(store)
        await store.create_schema()
        self.bus = LocalBus(store)

    async def another_bus(self) -> Bus:
        store = SqlStore(self.url)
        self.stores.append(store)
        return LocalBus(store)

    async def unavailable_bus(self) -> Bus:
        folder = self.tmp_path / "gone"
        store = SqlStore(f"sqlite+aiosqlite:///{folder}/t.db")  # creates the folder…
        folder.rmdir()  # …which then disappears (an unmounted or deleted data dir)
        self.stores.append(store)
        return LocalBus(store)

    async def close(self) -> None:
        await super().close()
        for store in self.stores:
            await store.dispose()


class KafkaHarness(BusHarness):
    name = "kafka"
    members_split_work = True
    stores_repeated_ids = True
    partitions = 3

    def __init__(self, bootstrap: str) -> None:
        super().__init__()
        self.bootstrap = bootstrap
        # Topics and groups are both prefixed: each test has its own, on one shared broker.
        self.prefix = f"contract-{uuid.uuid4().hex[:10]}."
        self.buses: list[KafkaBus] = []

    def _bus(self, bootstrap: str) -> KafkaBus:
        bus = KafkaBus(bootstrap, partitions=self.partitions, prefix=self.prefix)
        self.buses.append(bus)
        return bus

    async def start(self) -> None:
        self.bus = bus = self._bus(self.bootstrap)
        await bus.ensure_topics(BUS_TOPICS)

    async def another_bus(self) -> Bus:
        return self._bus(self.bootstrap)

    async def unavailable_bus(self) -> Bus:
        return self._bus("127.0.0.1:1")  # nothing listens on port 1: refused at once

    def settled(self, members: Sequence[Subscription]) -> bool:
        kafka_members: list[Any] = list(members)
        assert all(isinstance(member, KafkaSubscription) for member in kafka_members)
        shares = [member.consumer.assignment() for member in kafka_members]
        everything = {(topic, p) for member in kafka_members for topic in member.topics for p in range(self.partitions)}
        taken = [(tp.topic, tp.partition) for share in shares for tp in share]
        return all(shares) and len(taken) == len(set(taken)) and set(taken) == everything

    async def close(self) -> None:
        await super().close()
        for bus in self.buses:
            await bus.stop()
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await admin.start()
        try:
            await admin.delete_topics([self.prefix + name for name in BUS_TOPICS])
        finally:
            await admin.close()


@pytest.fixture(params=["local", pytest.param("kafka", marks=pytest.mark.kafka)])
async def bus_harness(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[BusHarness]:
    """The bus port over the embedded local log, then over real Kafka (missing Kafka fails)."""
    harness: BusHarness
    if request.param == "local":
        harness = LocalHarness(tmp_path)
    else:
        harness = KafkaHarness(infra("LEADRELAY_TEST_KAFKA"))
    await harness.start()
    try:
        yield harness
    finally:
        await harness.close()


@pytest.fixture
async def local_harness(tmp_path: Path) -> AsyncIterator[LocalHarness]:
    """The local log alone, for what only it does (its position store's timing)."""
    harness = LocalHarness(tmp_path)
    await harness.start()
    try:
        yield harness
    finally:
        await harness.close()


# -- the store ---------------------------------------------------------------------------------

# The time the store suite's clock starts at: microseconds set, so a round trip that drops them shows.
STORE_EPOCH = datetime(2031, 3, 4, 5, 6, 7, 891011, tzinfo=UTC)


class StoreHarness(ABC):
    """One backend of the ``Store`` port, with what only the backend can tell the suite."""

    name: ClassVar[str]
    # What a write the database refuses (a taken unique key, a missing NOT NULL value) raises.
    refused: ClassVar[type[Exception]]

    store: Store

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock

    @abstractmethod
    async def start(self) -> None:
        """Opens ``store`` on an empty database, reading ``clock``."""

    @abstractmethod
    async def emitted(self) -> list[OutboxRow]:
        """What the outbox holds (committed), in the order it was written; no port reads it."""

    @abstractmethod
    async def unavailable_store(self) -> Store:
        """A store whose database is away."""

    async def close(self) -> None:
        await self.store.dispose()


class MemoryStoreHarness(StoreHarness):
    name = "memory"
    refused = ConstraintViolation

    async def start(self) -> None:
        self.store = self.memory = MemoryStore(self.clock)

    async def emitted(self) -> list[OutboxRow]:
        return self.memory.emitted

    async def unavailable_store(self) -> Store:
        store = MemoryStore(self.clock)
        store.available = False
        return store


class SqlStoreHarness(StoreHarness):
    refused = IntegrityError

    def __init__(self, clock: FakeClock, url: str) -> None:
        super().__init__(clock)
        self.url = url
        self.others: list[SqlStore] = []

    def another_store(self, url: str | None = None) -> SqlStore:
        """A second store on the same database, opened the way another process would open it."""
        store = SqlStore(url or self.url, clock=self.clock)
        self.others.append(store)
        return store

    async def emitted(self) -> list[OutboxRow]:
        async with self.sql.engine.connect() as conn:
            rows = await conn.execute(select(schema.outbox).order_by(schema.outbox.c.seq))
            return [OutboxRow(row.seq, row.event_id, row.topic, row.key, bytes(row.payload), as_utc(row.created_at))
                    for row in rows]

    async def close(self) -> None:
        for store in self.others:
            await store.dispose()
        await super().close()


class SqliteStoreHarness(SqlStoreHarness):
    name = "sqlite"

    def __init__(self, clock: FakeClock, tmp_path: Path) -> None:
        super().__init__(clock, f"sqlite+aiosqlite:///{tmp_path}/store.db")
        self.tmp_path = tmp_path

    async def start(self) -> None:
        self.store = self.sql = SqlStore(self.url, clock=self.clock)
        await self.sql.create_schema()

    async def unavailable_store(self) -> Store:
        folder = self.tmp_path / "gone"
        store = self.another_store(f"sqlite+aiosqlite:///{folder}/store.db")  # creates the folder…
        folder.rmdir()  # …which then disappears (an unmounted or deleted data dir)
        return store


class PostgresStoreHarness(SqlStoreHarness):
    """On the suite's one migrated database, emptied before each test (creating and migrating a
    database per test would cost more than the test)."""

    name = "postgresql"

    async def start(self) -> None:
        self.store = self.sql = SqlStore(self.url, clock=self.clock)
        names = ", ".join(f'"{table.name}"' for table in schema.metadata.sorted_tables)
        async with self.sql.engine.begin() as conn:
            await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY"))

    async def unavailable_store(self) -> Store:
        return self.another_store(make_url(self.url).set(port=1).render_as_string(hide_password=False))


STORE_BACKENDS = ("memory", "sqlite", pytest.param("postgresql", marks=pytest.mark.postgres))


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def store_database() -> AsyncIterator[str]:
    """One migrated PostgreSQL database for the store suite (missing PostgreSQL fails)."""
    async with scratch_database() as url:
        yield url


@pytest.fixture
def store_clock() -> FakeClock:
    """The store's clock: fixed, moved only by the test."""
    return FakeClock(STORE_EPOCH)


@pytest.fixture(params=STORE_BACKENDS)
def store_backend(request: pytest.FixtureRequest, tmp_path: Path, store_clock: FakeClock) -> StoreHarness:
    """Which backend a store test runs on. A test about some backends only narrows it with
    ``@pytest.mark.parametrize("store_backend", [...], indirect=True)``."""
    if request.param == "memory":
        return MemoryStoreHarness(store_clock)
    if request.param == "sqlite":
        return SqliteStoreHarness(store_clock, tmp_path)
    # Asked for here, not as an argument: the memory and SQLite runs never open PostgreSQL.
    return PostgresStoreHarness(store_clock, request.getfixturevalue("store_database"))


@pytest.fixture
async def store_harness(store_backend: StoreHarness) -> AsyncIterator[StoreHarness]:
    """The store port on the in-memory fake, on SQLite, then on real PostgreSQL, empty."""
    await store_backend.start()
    try:
        yield store_backend
    finally:
        await store_backend.close()


@pytest.fixture
def store(store_harness: StoreHarness) -> Store:
    """An empty ``Store`` on each backend, stamping times with ``store_clock``."""
    return store_harness.store
