"""``Inbox`` (``shared/ports/inbox.py``): each consumer handles an event id once; dead letters."""

from __future__ import annotations

from datetime import timedelta

from leadrelay.shared.ports import DeadLetterRecord, Store
from tests.contract.conftest import STORE_EPOCH, StoreHarness
from tests.contract.store.values import assert_aware_utc


async def test_an_event_is_processed_once_per_consumer(store: Store):
    async with store.transaction() as uow:
        assert await uow.inbox.mark_processed("scoring", "event-1") is True
    async with store.transaction() as uow:
        assert await uow.inbox.mark_processed("scoring", "event-1") is False  # a redelivery
        assert await uow.inbox.mark_processed("router", "event-1") is True
        assert await uow.inbox.mark_processed("scoring", "event-2") is True


async def test_a_polls_events_are_marked_with_one_call(store: Store):
    async with store.transaction() as uow:
        assert await uow.inbox.mark_processed("scoring", "event-1") is True
    async with store.transaction() as uow:
        # A redelivery among new events, and one event twice in one poll: each new id once.
        fresh = await uow.inbox.mark_processed_many("scoring", ["event-1", "event-2", "event-3", "event-2"])
        assert fresh == {"event-2", "event-3"}
        assert await uow.inbox.mark_processed_many("router", ["event-1"]) == {"event-1"}
        assert await uow.inbox.mark_processed_many("router", []) == set()
    async with store.transaction() as uow:
        assert await uow.inbox.mark_processed("scoring", "event-3") is False
        assert await uow.inbox.mark_processed_many("scoring", ["event-2", "event-4"]) == {"event-4"}


async def test_a_forgotten_event_is_handled_again(store: Store):
    async with store.transaction() as uow:
        await uow.inbox.mark_processed("scoring", "event-1")
        await uow.inbox.mark_processed("router", "event-1")
    async with store.transaction() as uow:
        await uow.inbox.forget("scoring", "event-1")
        await uow.inbox.forget("scoring", "never-seen")
    async with store.transaction() as uow:
        assert await uow.inbox.mark_processed("scoring", "event-1") is True
        assert await uow.inbox.mark_processed("router", "event-1") is False


async def test_dead_letters_are_kept_oldest_first_until_redriven(store_harness: StoreHarness):
    async with store_harness.store.transaction() as uow:
        await uow.inbox.dead_letter("scoring", "leads.received", "event-1", b"\xffbroken", "ValidationError: email")
        await uow.inbox.dead_letter("router", "leads.qualified", None, b"{}", "no event id")
    async with store_harness.store.read() as uow:
        first, second = await uow.inbox.dead_letters()
    assert first == DeadLetterRecord(id=first.id, consumer="scoring", topic="leads.received", event_id="event-1",
                                     payload=b"\xffbroken", error="ValidationError: email", created_at=STORE_EPOCH,
                                     redriven_at=None)
    assert (second.consumer, second.event_id, second.payload) == ("router", None, b"{}")
    assert first.id < second.id
    assert_aware_utc(first)

    store_harness.clock.advance(minutes=2)
    async with store_harness.store.transaction() as uow:
        await uow.inbox.mark_redriven(first.id)
    async with store_harness.store.read() as uow:
        assert [d.id for d in await uow.inbox.dead_letters()] == [second.id]
        everything = await uow.inbox.dead_letters(include_redriven=True)
    assert [d.id for d in everything] == [first.id, second.id]
    assert everything[0].redriven_at == STORE_EPOCH + timedelta(minutes=2)


async def test_a_dead_letters_error_is_kept_to_its_first_4000_characters(store: Store):
    async with store.transaction() as uow:
        await uow.inbox.dead_letter("scoring", "t", "event-1", b"x", "e" * 5000)
        [dead] = await uow.inbox.dead_letters()
    assert dead.error == "e" * 4000
