"""The ``Bus`` port's contract, written once and run over the local log and over real Kafka.

What the services rely on (``shared/shell/consumer.py``): ``publish`` returns only once the
event is stored; every group reads every event of its topics, in publish order per key; a
delivery that was not committed comes back to the group, one that was does not. Delivery is
at least once, so where a backend differs (a repeated publish, members of one group) the test
pins what that backend does and the consumers' dedup on event ids is what makes it harmless.
"""

from __future__ import annotations

import asyncio
import socket
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import pytest

from leadrelay.shared import topics
from leadrelay.shared.adapters import kafka_bus
from leadrelay.shared.adapters.kafka_bus import KafkaBus
from leadrelay.shared.events import Envelope, LeadContact, LeadQualified, LeadReceived, new_id
from leadrelay.shared.ports import BusUnavailable, Delivery, Subscription
from tests.contract.conftest import BusHarness, LocalHarness

pytestmark = pytest.mark.timeout(60)

AT = datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC)
# Bounds every wait for deliveries: a lost event fails the test within this, never hangs it.
RECEIVE_TIMEOUT_S = 15.0


def received(key: str, n: int = 0) -> Envelope:
    lead_id = new_id()
    payload = LeadReceived(lead_id=lead_id, source="contract", received_at=AT,
                           contact=LeadContact(company=f"Company {n}", employees=n), identity_keys=[key])
    return Envelope.wrap(payload, source="contract-test", subject=lead_id, key=key, correlation_id=lead_id, time=AT)


def qualified(key: str) -> Envelope:
    lead_id = new_id()
    payload = LeadQualified(lead_id=lead_id, person_id=new_id(), source="contract", received_at=AT,
                            contact=LeadContact(), score=5, grade="cold", reasons=[], policy_version=1)
    return Envelope.wrap(payload, source="contract-test", subject=lead_id, key=key, correlation_id=lead_id, time=AT)


def ids(deliveries: Sequence[Delivery]) -> list[str]:
    return [Envelope.from_bytes(d.payload).id for d in deliveries]


async def receive(subscription: Subscription, count: int) -> list[Delivery]:
    """Polls until ``count`` deliveries arrived; fails after RECEIVE_TIMEOUT_S."""
    got = await receive_until([subscription], lambda got: len(got[0]) >= count)
    return got[0]


async def receive_until(members: Sequence[Subscription],
                        done: Callable[[list[list[Delivery]]], bool]) -> list[list[Delivery]]:
    """Polls all members together (as the group's processes would) until ``done(got)``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + RECEIVE_TIMEOUT_S
    got: list[list[Delivery]] = [[] for _ in members]
    while not done(got):
        assert loop.time() < deadline, f"deliveries after {RECEIVE_TIMEOUT_S}s: {[len(g) for g in got]}"
        batches = await asyncio.gather(*(member.poll(max_records=100, timeout_s=0.25) for member in members))
        for into, batch in zip(got, batches, strict=True):
            into.extend(batch)
    return got


async def nothing_more(subscription: Subscription) -> None:
    assert await subscription.poll(timeout_s=0.5) == []


async def test_a_new_group_receives_a_published_envelope_intact(bus_harness: BusHarness):
    envelope = received("email:li.wei@例子.中国")
    await bus_harness.bus.publish(envelope)

    subscription = bus_harness.subscribe("readers")
    [delivery] = await receive(subscription, 1)

    assert delivery.payload == envelope.to_bytes()
    assert Envelope.from_bytes(delivery.payload) == envelope
    assert (delivery.topic, delivery.key) == (topics.LEAD_RECEIVED, envelope.key)
    await nothing_more(subscription)


async def test_publish_returns_once_the_event_is_stored_for_every_reader_of_the_log(bus_harness: BusHarness):
    envelope = received("email:a@example.com")
    await bus_harness.bus.publish(envelope)

    # Another process's bus over the same log: nothing of the publisher's is shared with it.
    other = await bus_harness.another_bus()
    subscription = other.subscribe("elsewhere", [topics.LEAD_RECEIVED])
    bus_harness.subscriptions.append(subscription)

    assert ids(await receive(subscription, 1)) == [envelope.id]


async def test_poll_on_an_empty_log_returns_nothing_within_its_timeout(bus_harness: BusHarness):
    subscription = bus_harness.subscribe("idle")
    await subscription.poll(timeout_s=0.2)  # Kafka joins the group on the first poll
    loop = asyncio.get_running_loop()

    started = loop.time()
    assert await subscription.poll(timeout_s=0.3) == []
    assert loop.time() - started < 0.3 + 2.0


async def test_poll_returns_at_most_max_records_and_the_rest_on_later_polls(bus_harness: BusHarness):
    events = [received(f"email:{n}@example.com", n) for n in range(7)]
    for envelope in events:
        await bus_harness.bus.publish(envelope)
    subscription = bus_harness.subscribe("small-batches")

    loop = asyncio.get_running_loop()
    deadline = loop.time() + RECEIVE_TIMEOUT_S
    got: list[Delivery] = []
    while len(got) < len(events):
        assert loop.time() < deadline, f"{len(got)} of {len(events)} deliveries after {RECEIVE_TIMEOUT_S}s"
        batch = await subscription.poll(max_records=3, timeout_s=0.25)
        assert len(batch) <= 3
        got += batch

    assert sorted(ids(got)) == sorted(e.id for e in events)


async def test_events_for_one_key_arrive_in_publish_order(bus_harness: BusHarness):
    keys = ["email:a@example.com", "email:b@example.com", "phone:+8613800000000"]
    published: dict[str, list[str]] = defaultdict(list)
    for n in range(12):
        for key in keys:
            envelope = received(key, n)
            await bus_harness.bus.publish(envelope)
            published[key].append(envelope.id)

    deliveries = await receive(bus_harness.subscribe("ordered"), 12 * len(keys))

    arrived: dict[str, list[str]] = defaultdict(list)
    positions: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for delivery in deliveries:
        arrived[delivery.key].append(Envelope.from_bytes(delivery.payload).id)
        positions[delivery.key].append((delivery.partition, delivery.offset))
    assert arrived == published
    for key in keys:
        assert len({partition for partition, _ in positions[key]}) == 1, "one key, one partition"
        assert positions[key] == sorted(positions[key]), "offsets grow in delivery order"


async def test_a_subscription_receives_only_its_topics(bus_harness: BusHarness):
    one, two, three = received("k1"), qualified("k1"), received("k2")
    for envelope in (one, two, three):
        await bus_harness.bus.publish(envelope)

    leads_only = await receive(bus_harness.subscribe("scoring-like", [topics.LEAD_RECEIVED]), 2)
    both = await receive(bus_harness.subscribe("audit-like", [topics.LEAD_RECEIVED, topics.LEAD_QUALIFIED]), 3)

    assert sorted(ids(leads_only)) == sorted([one.id, three.id])
    assert {(d.topic, Envelope.from_bytes(d.payload).id) for d in both} == {
        (topics.LEAD_RECEIVED, one.id), (topics.LEAD_QUALIFIED, two.id), (topics.LEAD_RECEIVED, three.id)}


async def test_every_group_receives_every_event(bus_harness: BusHarness):
    events = [received(f"email:{n}@example.com", n) for n in range(20)]
    for envelope in events:
        await bus_harness.bus.publish(envelope)

    scoring, audit = bus_harness.subscribe("scoring"), bus_harness.subscribe("audit")
    got = await receive_until([scoring, audit], lambda got: all(len(g) >= len(events) for g in got))

    for deliveries in got:
        assert sorted(ids(deliveries)) == sorted(e.id for e in events)
    await nothing_more(scoring)
    await nothing_more(audit)


async def test_members_of_one_group_share_its_events(bus_harness: BusHarness):
    """Kafka hands each partition to one member, so each event goes to one of them. The local
    log has no partition assignment: every member reads from the group's stored position, so
    each one receives every event. Embedded mode runs one member per group; a second one (a
    second ``leadrelay run`` on the same data dir) costs redeliveries that the consumers'
    processed-id check skips, not lost or double effects."""
    first, second = bus_harness.subscribe("router"), bus_harness.subscribe("router")
    await bus_harness.settle([first, second])
    events = [received(f"email:{n}@example.com", n) for n in range(30)]
    for envelope in events:
        await bus_harness.bus.publish(envelope)
    everything = sorted(e.id for e in events)

    if bus_harness.members_split_work:
        got = await receive_until([first, second], lambda got: sum(map(len, got)) >= len(events))
        assert sorted(ids(got[0]) + ids(got[1])) == everything, "each event once across the group"
        assert got[0] and got[1], "both members got a share"
    else:
        got = await receive_until([first, second], lambda got: all(len(g) >= len(events) for g in got))
        assert sorted(ids(got[0])) == sorted(ids(got[1])) == everything
    await nothing_more(first)
    await nothing_more(second)


async def test_a_group_gets_back_what_it_did_not_commit_and_not_what_it_did(bus_harness: BusHarness):
    events = [received(f"email:{n % 4}@example.com", n) for n in range(12)]
    for envelope in events:
        await bus_harness.bus.publish(envelope)

    before = bus_harness.subscribe("notifier")
    deliveries = await receive(before, len(events))
    # Two commits in quick succession: the local log stores the first at once and keeps the
    # second pending (it stores at most once a second) until close() stores it.
    await before.commit(deliveries[:4])
    await before.commit(deliveries[4:7])
    await before.commit([])
    await before.close()

    after = bus_harness.subscribe("notifier")
    redelivered = await receive(after, len(events) - 7)

    assert sorted(ids(redelivered)) == sorted(ids(deliveries[7:]))
    await nothing_more(after)


async def test_the_local_log_stores_a_group_position_at_most_once_a_second(local_harness: LocalHarness):
    """So a process that dies without close() gets back up to a second of committed events:
    redeliveries the consumers skip by processed id, the price of one fsync per batch saved."""
    events = [received("email:a@example.com", n) for n in range(9)]
    for envelope in events:
        await local_harness.bus.publish(envelope)
    crashed = local_harness.subscribe("router")
    deliveries = await receive(crashed, len(events))
    await crashed.commit(deliveries[:3])  # the first commit is stored at once
    await crashed.commit(deliveries[3:6])  # this one within the second: pending, in memory

    restarted = local_harness.subscribe("router")  # as after a kill -9: no close()
    assert ids(await receive(restarted, 6)) == [e.id for e in events[3:]]

    await crashed.close()  # a clean stop stores the pending position
    again = local_harness.subscribe("router")
    assert ids(await receive(again, 3)) == [e.id for e in events[6:]]


async def test_publishing_an_event_id_twice_leaves_consumers_one_id_to_dedup(bus_harness: BusHarness):
    """The port promises only that a repeat is harmless to id-deduping consumers. The local log
    drops the repeat (its event_id is unique); Kafka stores it again, same id, same bytes."""
    key = "email:a@example.com"
    twice, after = received(key), received(key, 1)
    await bus_harness.bus.publish(twice)
    await bus_harness.bus.publish(twice)
    await bus_harness.bus.publish(after)

    subscription = bus_harness.subscribe("dedup")
    expected = [twice.id, twice.id, after.id] if bus_harness.stores_repeated_ids else [twice.id, after.id]
    deliveries = await receive(subscription, len(expected))

    assert ids(deliveries) == expected
    assert {d.payload for d in deliveries if Envelope.from_bytes(d.payload).id == twice.id} == {twice.to_bytes()}
    await nothing_more(subscription)


async def test_publish_raises_bus_unavailable_when_the_log_cannot_store(bus_harness: BusHarness):
    bus = await bus_harness.unavailable_bus()

    async with asyncio.timeout(10):
        with pytest.raises(BusUnavailable):
            await bus.publish(received("email:a@example.com"))


async def test_kafka_publish_to_a_broker_that_never_answers_gives_up_after_its_timeout(
        monkeypatch: pytest.MonkeyPatch):
    """A hung broker (it accepts connections, never answers) is a 503, not a hung request."""
    monkeypatch.setattr(kafka_bus, "PUBLISH_TIMEOUT_S", 1.0)
    silent = socket.create_server(("127.0.0.1", 0))  # the kernel accepts; nobody ever reads
    bus = KafkaBus(f"127.0.0.1:{silent.getsockname()[1]}")
    loop = asyncio.get_running_loop()
    try:
        started = loop.time()
        with pytest.raises(BusUnavailable):
            await bus.publish(received("email:a@example.com"))
        assert loop.time() - started < 1.0 + 2.0
    finally:
        await bus.stop()
        silent.close()


# -- lag: what a member has not consumed yet (the consumer loop exports it as a gauge) ----------

async def lag_until(members: Sequence[Subscription],
                    done: Callable[[list[dict[int, int]]], bool]) -> list[dict[int, int]]:
    """Measures every member until ``done(lags)``; fails after RECEIVE_TIMEOUT_S with the last
    measurement. Kafka reports a partition once its first fetch came back, moments after the
    assignment; the local log's count is exact at once."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + RECEIVE_TIMEOUT_S
    while True:
        lags = [await member.lag() for member in members]
        if done(lags):
            return lags
        assert loop.time() < deadline, f"lag after {RECEIVE_TIMEOUT_S}s: {lags}"
        await asyncio.sleep(0.1)


def behind(lag: dict[int, int]) -> dict[int, int]:
    return {partition: n for partition, n in lag.items() if n}


async def test_lag_is_empty_before_the_first_poll(bus_harness: BusHarness):
    await bus_harness.bus.publish(received("email:a@example.com"))

    assert await bus_harness.subscribe("not-started").lag() == {}


async def test_lag_counts_the_events_of_its_topics_after_the_position_on_their_partition(
        bus_harness: BusHarness):
    key = "email:li.wei@example.com"
    for n in range(6):
        await bus_harness.bus.publish(received(key, n))
    subscription = bus_harness.subscribe("lagging", [topics.LEAD_RECEIVED])
    deliveries = await receive(subscription, 6)
    partition = deliveries[0].partition  # one key, one partition (the local log's is 0)
    await subscription.commit(deliveries)
    caught_up = (await lag_until([subscription], lambda lags: partition in lags[0]))[0]
    assert behind(caught_up) == {}

    for n in range(4):
        await bus_harness.bus.publish(received(key, n))
    for _ in range(3):  # another topic: not this subscription's lag
        await bus_harness.bus.publish(qualified(key))

    [lag] = await lag_until([subscription], lambda lags: bool(behind(lags[0])))
    assert behind(lag) == {partition: 4}
    if bus_harness.name == "local":
        assert lag == {0: 4}

    await subscription.commit(await receive(subscription, 4))
    [lag] = await lag_until([subscription], lambda lags: partition in lags[0])
    assert behind(lag) == {}


async def test_members_of_one_group_each_report_the_lag_of_what_they_read(bus_harness: BusHarness):
    """On Kafka each member reports its own partitions, and together they count every event
    once; on the local log each member reads every event, so each reports all of them."""
    first, second = bus_harness.subscribe("router"), bus_harness.subscribe("router")
    await bus_harness.settle([first, second])
    events = [received(f"email:{n}@example.com", n) for n in range(10)]
    for envelope in events:
        await bus_harness.bus.publish(envelope)

    def totals(lags: list[dict[int, int]]) -> list[int]:
        return [sum(lag.values()) for lag in lags]

    if bus_harness.members_split_work:
        lags = await lag_until([first, second], lambda lags: sum(totals(lags)) >= len(events))
        assert sum(totals(lags)) == len(events)
        assert not set(lags[0]) & set(lags[1]), "a partition is held by one member"
    else:
        lags = await lag_until([first, second], lambda lags: min(totals(lags)) >= len(events))
        assert lags == [{0: len(events)}, {0: len(events)}]
