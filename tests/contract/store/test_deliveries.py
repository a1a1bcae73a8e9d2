"""``DeliveryRepository`` (``shared/ports/deliveries.py``): the chat messages a sender drains."""

from __future__ import annotations

from datetime import timedelta

from leadrelay.shared.ports import DeliveryRecord, NewDelivery, Store
from tests.contract.conftest import STORE_EPOCH, StoreHarness
from tests.contract.store.values import AT, assert_aware_utc

NOW = STORE_EPOCH


def delivery(dedup_key: str, lead_id: str = "lead-1", recipient: str = "rep-a", **values: object) -> NewDelivery:
    new = {"dedup_key": dedup_key, "lead_id": lead_id, "recipient": recipient, "kind": "assigned",
           "platform": "slack", "message": {"title": "New lead", "facts": [["Score", "35"]]}, "received_at": AT}
    new.update(values)
    return new  # type: ignore[return-value]


async def test_a_queued_delivery_is_pending_and_due_now_by_the_store_clock(store: Store):
    async with store.transaction() as uow:
        await uow.deliveries.add(**delivery("event-1:rep-a"))
        await uow.deliveries.add(**delivery("event-1:mgr-a", recipient="mgr-a", kind="fallback", received_at=None))
    async with store.read() as uow:
        first, second = await uow.deliveries.for_lead("lead-1")
    assert first == DeliveryRecord(
        id=first.id, dedup_key="event-1:rep-a", lead_id="lead-1", recipient="rep-a", kind="assigned",
        platform="slack", message={"title": "New lead", "facts": [["Score", "35"]]}, received_at=AT,
        state="pending", attempts=0, next_attempt_at=NOW, last_error=None, created_at=NOW, sent_at=None)
    assert (second.recipient, second.kind, second.received_at) == ("mgr-a", "fallback", None)
    assert first.id < second.id
    assert_aware_utc(first)


async def test_a_second_delivery_with_the_same_dedup_key_is_ignored(store: Store):
    async with store.transaction() as uow:
        await uow.deliveries.add(**delivery("event-1:rep-a"))
    async with store.transaction() as uow:
        await uow.deliveries.add(**delivery("event-1:rep-a", kind="reassigned", message={"title": "other"}))
    async with store.read() as uow:
        [only] = await uow.deliveries.for_lead("lead-1")
    assert (only.kind, only.message["title"]) == ("assigned", "New lead")


async def test_due_gives_waiting_deliveries_soonest_first_up_to_the_limit(store_harness: StoreHarness):
    store = store_harness.store
    async with store.transaction() as uow:
        for n in range(6):
            await uow.deliveries.add(**delivery(f"e:{n}", lead_id=f"lead-{n}"))
        ids = {d.dedup_key: d.id for n in range(6) for d in await uow.deliveries.for_lead(f"lead-{n}")}
        await uow.deliveries.update(ids["e:0"], next_attempt_at=NOW + timedelta(seconds=30), attempts=1,
                                    last_error="429")  # retried later
        await uow.deliveries.update(ids["e:1"], state="sent", attempts=1, sent_at=NOW)
        await uow.deliveries.update(ids["e:2"], state="failed", attempts=5, last_error="410 Gone")
        await uow.deliveries.update(ids["e:3"], state="sending", next_attempt_at=NOW - timedelta(seconds=1))  # lease over
        await uow.deliveries.update(ids["e:4"], state="sending", next_attempt_at=NOW + timedelta(seconds=60))  # leased
    async with store.transaction() as uow:
        due_now = await uow.deliveries.due(NOW, 10)
        assert await uow.deliveries.any_due(NOW)
        assert [d.dedup_key for d in await uow.deliveries.due(NOW, 1)] == ["e:3"]
        later = await uow.deliveries.due(NOW + timedelta(seconds=30), 10)
        assert not await uow.deliveries.any_due(NOW - timedelta(seconds=5))
    assert [d.dedup_key for d in due_now] == ["e:3", "e:5"]
    assert [d.dedup_key for d in later] == ["e:3", "e:5", "e:0"]
    for record in due_now:
        assert_aware_utc(record)


async def test_an_update_changes_what_it_names(store: Store):
    async with store.transaction() as uow:
        await uow.deliveries.add(**delivery("event-1:rep-a"))
        [queued] = await uow.deliveries.for_lead("lead-1")
        await uow.deliveries.update(queued.id, state="sent", attempts=2, last_error=None, sent_at=AT)
    async with store.read() as uow:
        [sent] = await uow.deliveries.for_lead("lead-1")
        assert await uow.deliveries.for_lead("lead-2") == []
    assert (sent.state, sent.attempts, sent.sent_at, sent.next_attempt_at) == ("sent", 2, AT, NOW)
    assert_aware_utc(sent)
