"""The consumer loop handles a poll in one transaction (shared/shell/consumer.py), and keeps every
guarantee of handling one event at a time: each event once, a poison event dead-lettered alone,
the events beside it handled, redeliveries and erased events changing nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import ClassVar

from leadrelay.shared import topics
from leadrelay.shared.erasure import event_tombstone
from leadrelay.shared.events import Contract, Envelope, LeadContact, LeadReceived
from leadrelay.shared.metrics import Metrics
from leadrelay.shared.ports import Delivery
from leadrelay.shared.shell.consumer import ConsumerRunner, ConsumerSpec
from tests.fakes import MemoryStore

AT = datetime(2031, 3, 4, 8, 0, tzinfo=UTC)


class Committed:
    """Records, once its transaction commits, each lead it handled and which transaction did it;
    raises for the leads in ``poison`` (every time) or in ``flaky`` (the first time only)."""

    name: ClassVar[str] = "scoring"
    events: ClassVar[tuple[type[Contract], ...]] = (LeadReceived,)

    def __init__(self, poison: set[str] = frozenset(), flaky: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        self.poison, self.flaky = poison, set(flaky)
        self.handled: list[tuple[str, int]] = []
        self.calls = 0
        self.units: list[object] = []

    async def __call__(self, event: LeadReceived, envelope: Envelope, uow: object) -> None:
        self.calls += 1
        if event.lead_id in self.poison:
            raise ValueError(f"cannot handle {event.lead_id}")
        if event.lead_id in self.flaky:
            self.flaky.discard(event.lead_id)
            raise ValueError(f"not yet: {event.lead_id}")
        self.units.append(uow)  # kept alive, so no two transactions share an id()
        transaction = id(uow)
        uow.after_commit(lambda: self.handled.append((event.lead_id, transaction)))  # type: ignore[attr-defined]


def an_event(lead_id: str) -> Envelope:
    event = LeadReceived(lead_id=lead_id, source="web", received_at=AT, contact=LeadContact(email="a@example.cn"),
                         identity_keys=[f"e:{lead_id}"])
    return Envelope.wrap(event, source="test", subject=lead_id, key=f"e:{lead_id}", correlation_id="c", time=AT)


def deliveries(*envelopes: Envelope) -> list[Delivery]:
    return [Delivery(topics.LEAD_RECEIVED, e.key, e.to_bytes(), 0, offset) for offset, e in enumerate(envelopes)]


def runner_for(handler: Committed, store: MemoryStore, metrics: Metrics | None = None) -> ConsumerRunner:
    return ConsumerRunner(ConsumerSpec("scoring", (topics.LEAD_RECEIVED,), handler), bus=None,  # type: ignore[arg-type]
                          store=store, metrics=metrics or Metrics(), max_retries=1)


def count(metrics: Metrics, name: str) -> float:
    return metrics.registry.get_sample_value(name, {"consumer": "scoring"}) or 0.0


async def test_a_poll_is_handled_in_one_transaction():
    store, handler, metrics = MemoryStore(lambda: AT), Committed(), Metrics()
    await runner_for(handler, store, metrics).process_batch(deliveries(*(an_event(f"l-{i}") for i in range(5))))
    assert [lead for lead, _ in handler.handled] == [f"l-{i}" for i in range(5)]  # in order
    assert len({transaction for _, transaction in handler.handled}) == 1
    assert count(metrics, "leadrelay_events_processed_total") == 5


async def test_a_poison_event_goes_to_the_dead_letters_alone_and_the_rest_of_its_poll_is_handled():
    store, handler = MemoryStore(lambda: AT), Committed(poison={"l-2"})
    events = [an_event(f"l-{i}") for i in range(5)]
    await runner_for(handler, store).process_batch(deliveries(*events))
    # The batch rolled back whole, then each event had its own transaction.
    assert [lead for lead, _ in handler.handled] == ["l-0", "l-1", "l-3", "l-4"]
    assert len({transaction for _, transaction in handler.handled}) == 4
    async with store.read() as uow:
        [dead] = await uow.inbox.dead_letters()
        assert dead.event_id == events[2].id and "cannot handle l-2" in dead.error
        # The good events are marked processed: a redelivery of the poll changes nothing more.
    await runner_for(handler, store).process_batch(deliveries(*events))
    assert len(handler.handled) == 4
    async with store.read() as uow:
        assert len(await uow.inbox.dead_letters()) == 1


async def test_an_event_failing_once_in_a_batch_is_handled_on_its_own_retry():
    store, handler = MemoryStore(lambda: AT), Committed(flaky={"l-1"})
    await runner_for(handler, store).process_batch(deliveries(*(an_event(f"l-{i}") for i in range(3))))
    assert sorted(lead for lead, _ in handler.handled) == ["l-0", "l-1", "l-2"]
    async with store.read() as uow:
        assert await uow.inbox.dead_letters() == []


async def test_redeliveries_copies_and_tombstones_in_a_poll_change_nothing():
    store, handler, metrics = MemoryStore(lambda: AT), Committed(), Metrics()
    runner = runner_for(handler, store, metrics)
    first, second, erased = an_event("l-1"), an_event("l-2"), an_event("l-3")
    await runner.process_batch(deliveries(first))
    async with store.transaction() as uow:
        await uow.outbox.emit(erased)
        assert await uow.privacy.erase_events([erased.key]) == 1
    batch = deliveries(first, second, second, erased)  # a redelivery, one event twice, an erased one
    batch.append(Delivery(topics.LEAD_RECEIVED, "erased", event_tombstone(erased.id), 0, 9))
    await runner.process_batch(batch)
    assert [lead for lead, _ in handler.handled] == ["l-1", "l-2"]
    assert count(metrics, "leadrelay_events_processed_total") == 3  # l-1, l-2, and the erased copy (skipped)
    assert count(metrics, "leadrelay_consumer_duplicates_skipped_total") == 3  # l-1 again, l-2's copy, tombstone


async def test_malformed_and_foreign_events_are_dead_lettered_and_the_poll_goes_on():
    store, handler = MemoryStore(lambda: AT), Committed()
    good = an_event("l-1")
    batch = [Delivery(topics.LEAD_RECEIVED, "k", b"{not json", 0, 1), *deliveries(good)]
    await runner_for(handler, store).process_batch(batch)
    assert [lead for lead, _ in handler.handled] == ["l-1"]
    async with store.read() as uow:
        [dead] = await uow.inbox.dead_letters()
        assert dead.event_id is None and "malformed" in dead.error


class Pooled(Committed):
    """Names the pool each lead locks (by its lead id's last letter), as the router does."""

    async def holds(self, leads: list[LeadReceived], uow: object) -> list[set[str]]:
        return [{f"rep:{lead.lead_id[-1]}"} for lead in leads]


async def test_a_poll_splits_where_pools_and_keys_do_not_meet():
    store, handler = MemoryStore(lambda: AT), Pooled()
    first, second, third, fourth = an_event("a-x"), an_event("b-y"), an_event("c-x"), an_event("d-z")
    same_key_as_second = an_event("e-w").model_copy(update={"key": second.key})
    await runner_for(handler, store).process_batch(deliveries(first, second, third, fourth, same_key_as_second))
    transaction = dict(handler.handled)
    assert [lead for lead, _ in handler.handled] == ["a-x", "c-x", "b-y", "e-w", "d-z"]  # group by group, in order
    assert transaction["a-x"] == transaction["c-x"]  # one pool: one transaction
    assert transaction["b-y"] == transaction["e-w"]  # one key: together, in order
    assert len({transaction["a-x"], transaction["b-y"], transaction["d-z"]}) == 3


class PoisonedHolds(Pooled):
    """Fails to name what a lead holds when the lead is poison (the router: an unknown policy)."""

    async def holds(self, leads: list[LeadReceived], uow: object) -> list[set[str]]:
        if any(lead.lead_id in self.poison for lead in leads):
            raise LookupError("no policy version 999")
        return await super().holds(leads, uow)


async def test_a_poison_event_that_cannot_be_split_still_goes_to_the_dead_letters_alone():
    store, handler = MemoryStore(lambda: AT), PoisonedHolds(poison={"b-y"})
    events = [an_event("a-x"), an_event("b-y"), an_event("c-z")]
    await runner_for(handler, store).process_batch(deliveries(*events))
    assert [lead for lead, _ in handler.handled] == ["a-x", "c-z"]
    async with store.read() as uow:
        [dead] = await uow.inbox.dead_letters()
        assert dead.event_id == events[1].id


async def test_a_redelivered_poll_says_what_it_skipped(caplog):
    store, handler = MemoryStore(lambda: AT), Committed()
    events = [an_event("l-1"), an_event("l-2")]
    await runner_for(handler, store).process_batch(deliveries(*events))
    with caplog.at_level("INFO", logger="leadrelay.shared.shell.consumer"):
        await runner_for(handler, store).process_batch(deliveries(*events))
    assert [r.event_id for r in caplog.records if r.getMessage() == "redelivered event skipped"] == [
        e.id for e in events]
