"""``SubscriptionRepository`` and ``WebhookDeliveryRepository`` (``shared/ports/webhooks.py``): the
webhook subscriptions and the HTTP outbox the webhook sender drains, in order per subscription
and lead."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from leadrelay.shared.ports import NewWebhookDelivery, Store
from tests.contract.conftest import STORE_EPOCH
from tests.contract.store.values import AT, assert_aware_utc

NOW = STORE_EPOCH


def subscription(subscription_id: str = "wh_1", **values: object) -> dict:
    new = {"id": subscription_id, "url": "https://crm.example.com/hook", "target": "webhook", "secret": "sealed-1",
           "event_types": ["lead.assigned", "lead.activity"], "config": {"owners": {"rep-a": "41629779"}}}
    new.update(values)
    return new


def delivery(event_id: str, lead_id: str = "lead-1", subscription_id: str = "wh_1") -> NewWebhookDelivery:
    return {"dedup_key": f"{event_id}:{subscription_id}", "subscription_id": subscription_id, "event_id": event_id,
            "event_type": "lead.assigned", "lead_id": lead_id, "occurred_at": AT,
            "payload": {"lead_id": lead_id, "owner": "rep-a", "lead": {"score": 75}}}


async def test_a_subscription_is_stored_active_listed_rotated_and_removed(store: Store):
    async with store.transaction() as uow:
        added = await uow.subscriptions.add(**subscription())  # type: ignore[arg-type]
        await uow.subscriptions.add(**subscription("wh_2", target="hubspot", event_types=["lead.assigned"]))  # type: ignore[arg-type]
    assert (added.id, added.active, added.created_at, added.removed_at) == ("wh_1", True, NOW, None)
    assert added.event_types == ["lead.assigned", "lead.activity"] and added.config == {"owners": {"rep-a": "41629779"}}
    assert_aware_utc(added)
    async with store.transaction() as uow:
        assert await uow.subscriptions.set_secret("wh_1", "sealed-2", "sealed-1")
        assert await uow.subscriptions.remove("wh_2")
        assert not await uow.subscriptions.remove("wh_2")
        assert not await uow.subscriptions.set_secret("wh_2", "sealed-3", None)
        assert not await uow.subscriptions.remove("wh_unknown")
    async with store.read() as uow:
        assert [s.id for s in await uow.subscriptions.list()] == ["wh_1"]
        assert [s.id for s in await uow.subscriptions.list(include_removed=True)] == ["wh_1", "wh_2"]
        rotated = await uow.subscriptions.get("wh_1")
        removed = await uow.subscriptions.get("wh_2")
        assert await uow.subscriptions.get("wh_unknown") is None
    assert rotated is not None and (rotated.secret, rotated.previous_secret, rotated.secret_rotated_at) == (
        "sealed-2", "sealed-1", NOW)
    assert removed is not None and (removed.active, removed.removed_at) == (False, NOW)


async def test_a_queued_delivery_is_pending_now_and_a_second_with_its_key_is_ignored(store: Store):
    async with store.transaction() as uow:
        await uow.webhook_deliveries.add(**delivery("e1"))
        await uow.webhook_deliveries.add(**{**delivery("e1"), "event_type": "lead.sla"})
    async with store.read() as uow:
        [row] = await uow.webhook_deliveries.for_lead("lead-1")
        assert await uow.webhook_deliveries.get(row.id) == row
        assert await uow.webhook_deliveries.get(row.id + 100) is None
    assert (row.state, row.attempts, row.next_attempt_at, row.created_at, row.delivered_at) == (
        "pending", 0, NOW, NOW, None)
    assert (row.event_type, row.occurred_at, row.payload["lead"]) == ("lead.assigned", AT, {"score": 75})
    assert_aware_utc(row)


async def test_due_holds_a_leads_later_delivery_while_an_earlier_one_waits(store: Store):
    async with store.transaction() as uow:
        for event_id, lead_id, subscription_id in [("e1", "lead-1", "wh_1"), ("e2", "lead-1", "wh_1"),
                                                   ("e3", "lead-2", "wh_1"), ("e4", "lead-1", "wh_2")]:
            await uow.webhook_deliveries.add(**delivery(event_id, lead_id, subscription_id))
        ids = {d.event_id: d.id for lead in ("lead-1", "lead-2") for d in await uow.webhook_deliveries.for_lead(lead)}
    async with store.transaction() as uow:
        assert [d.event_id for d in await uow.webhook_deliveries.due(NOW, 10)] == ["e1", "e3", "e4"]
        assert [d.event_id for d in await uow.webhook_deliveries.due(NOW, 1)] == ["e1"]
        # e1 leased (sending) still holds e2; retried later, it still does.
        await uow.webhook_deliveries.update(ids["e1"], state="sending", next_attempt_at=NOW + timedelta(seconds=60))
        assert [d.event_id for d in await uow.webhook_deliveries.due(NOW, 10)] == ["e3", "e4"]
        await uow.webhook_deliveries.update(ids["e1"], state="pending", attempts=1,
                                            next_attempt_at=NOW + timedelta(seconds=5))
        assert [d.event_id for d in await uow.webhook_deliveries.due(NOW, 10)] == ["e3", "e4"]
        assert [d.event_id for d in await uow.webhook_deliveries.due(NOW + timedelta(seconds=5), 10)] == [
            "e3", "e4", "e1"]
        # Dead-lettered, it lets the next one go.
        await uow.webhook_deliveries.update(ids["e1"], state="dead", attempts=8, last_error="HTTP 500")
        assert [d.event_id for d in await uow.webhook_deliveries.due(NOW, 10)] == ["e2", "e3", "e4"]
        assert await uow.webhook_deliveries.any_due(NOW)
        for event_id in ("e2", "e3", "e4"):
            await uow.webhook_deliveries.update(ids[event_id], state="delivered", attempts=1, delivered_at=NOW)
        assert not await uow.webhook_deliveries.any_due(NOW)


async def test_listing_filters_and_cancelling_a_removed_subscriptions_waiting_deliveries(store: Store):
    async with store.transaction() as uow:
        for event_id in ("e1", "e2", "e3"):
            await uow.webhook_deliveries.add(**delivery(event_id, lead_id=f"lead-{event_id}"))
        await uow.webhook_deliveries.add(**delivery("e4", subscription_id="wh_2"))
        rows = {d.event_id: d for d in await uow.webhook_deliveries.list(limit=10)}
        await uow.webhook_deliveries.update(rows["e1"].id, state="delivered", attempts=1, delivered_at=NOW)
        await uow.webhook_deliveries.update(rows["e2"].id, state="dead", attempts=3, last_error="HTTP 500")
    async with store.transaction() as uow:
        assert [d.event_id for d in await uow.webhook_deliveries.list(limit=10)] == ["e4", "e3", "e2", "e1"]
        assert [d.event_id for d in await uow.webhook_deliveries.list(limit=2)] == ["e4", "e3"]
        assert [d.event_id for d in await uow.webhook_deliveries.list(states=("dead",))] == ["e2"]
        assert [d.event_id for d in await uow.webhook_deliveries.list(subscription_id="wh_2")] == ["e4"]
        assert await uow.webhook_deliveries.cancel_waiting("wh_1") == 2
    async with store.read() as uow:
        states = {d.event_id: d.state for d in await uow.webhook_deliveries.list(limit=10)}
    assert states == {"e1": "delivered", "e2": "cancelled", "e3": "cancelled", "e4": "pending"}


@pytest.mark.parametrize("store_backend", ["postgresql"], indirect=True)
async def test_a_second_sender_skips_what_one_holds_and_never_overtakes_it_on_the_same_lead(store: Store):
    """Two notifier replicas: while one holds a lead's first delivery (claimed, not yet marked), the
    other skips it, and does not take that lead's next delivery either; another lead's it does."""
    async with store.transaction() as uow:
        for event_id, lead_id in [("e1", "lead-1"), ("e2", "lead-1"), ("e3", "lead-2")]:
            await uow.webhook_deliveries.add(**delivery(event_id, lead_id))
    held, release = asyncio.Event(), asyncio.Event()

    async def holder() -> list[str]:
        async with store.transaction() as uow:
            taken = [d.event_id for d in await uow.webhook_deliveries.due(NOW, 1)]
            held.set()
            await release.wait()
            return taken

    holding = asyncio.create_task(holder())
    await held.wait()
    async with store.transaction() as uow:
        others = [d.event_id for d in await asyncio.wait_for(uow.webhook_deliveries.due(NOW, 10), 10)]
    release.set()
    assert await asyncio.wait_for(holding, 10) == ["e1"]
    assert others == ["e3"]
