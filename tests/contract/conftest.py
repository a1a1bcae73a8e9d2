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
from pathlib import Path
from typing import Any, ClassVar

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from leadrelay.shared import topics
from leadrelay.shared.adapters.kafka_bus import KafkaBus, KafkaSubscription
from leadrelay.shared.adapters.local_bus import LocalBus
from leadrelay.shared.adapters.sql.store import SqlStore
from leadrelay.shared.ports import Bus, Subscription
from tests.conftest import infra

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
