"""``Outbox`` (``shared/ports/outbox.py``): what a handler emits, in order, each event id once."""

from __future__ import annotations

import pytest

from leadrelay.shared import topics
from leadrelay.shared.events import Envelope, LeadActivity
from tests.contract.conftest import STORE_EPOCH, StoreHarness
from tests.contract.store.values import AT


def activity(lead_id: str, action: str = "accepted") -> Envelope:
    event = LeadActivity(lead_id=lead_id, actor="rep-a", action=action, at=AT)
    return Envelope.wrap(event, source="test", subject=lead_id, key=f"key-{lead_id}", correlation_id="c", time=AT)


async def test_emitted_events_are_kept_in_the_order_they_were_written(store_harness: StoreHarness):
    first, second, third = activity("lead-1"), activity("lead-2"), activity("lead-3", "contacted")
    async with store_harness.store.transaction() as uow:
        await uow.outbox.emit(first)
        await uow.outbox.emit_many([second, third])
        await uow.outbox.emit_many([])
        await uow.outbox.emit_raw("leads.dead", "raw-key", b"\x00not json", "raw-1")
    rows = await store_harness.emitted()
    assert [(r.event_id, r.topic, r.key) for r in rows] == [
        (first.id, topics.LEAD_ACTIVITY, "key-lead-1"), (second.id, topics.LEAD_ACTIVITY, "key-lead-2"),
        (third.id, topics.LEAD_ACTIVITY, "key-lead-3"), ("raw-1", "leads.dead", "raw-key")]
    assert [Envelope.from_bytes(r.payload) for r in rows[:3]] == [first, second, third]
    assert rows[3].payload == b"\x00not json"  # as it was, byte for byte
    assert [r.seq for r in rows] == sorted({r.seq for r in rows})
    assert {r.created_at for r in rows} == {STORE_EPOCH}


async def test_append_if_new_appends_an_event_id_once(store_harness: StoreHarness):
    event = activity("lead-1")
    async with store_harness.store.transaction() as uow:
        assert await uow.outbox.append_if_new(event.topic, event.key, event.to_bytes(), event.id) is True
    async with store_harness.store.transaction() as uow:
        assert await uow.outbox.append_if_new(event.topic, "other-key", b"retried", event.id) is False
        assert await uow.outbox.append_if_new(event.topic, event.key, b"new", "event-2") is True
    rows = await store_harness.emitted()
    assert [(r.event_id, r.key, r.payload) for r in rows] == [
        (event.id, event.key, event.to_bytes()), ("event-2", event.key, b"new")]


@pytest.mark.parametrize("how", ["emit", "emit_many", "emit_raw"])
async def test_emitting_an_event_id_the_outbox_holds_is_refused(store_harness: StoreHarness, how: str):
    event = activity("lead-1")
    async with store_harness.store.transaction() as uow:
        await uow.outbox.emit(event)
    with pytest.raises(store_harness.refused):
        async with store_harness.store.transaction() as uow:
            await uow.outbox.emit(activity("lead-2"))
            if how == "emit":
                await uow.outbox.emit(event)
            elif how == "emit_many":
                await uow.outbox.emit_many([activity("lead-3"), event])
            else:
                await uow.outbox.emit_raw(event.topic, event.key, b"again", event.id)
    assert [r.event_id for r in await store_harness.emitted()] == [event.id]
