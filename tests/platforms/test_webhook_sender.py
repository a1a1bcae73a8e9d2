"""Webhook subscriptions end to end below the bus: events queued by the fan-out consumer, posted by
the sender to a local Standard Webhooks receiver that verifies every signature with the
``standardwebhooks`` library, over a real SQLite store, on the product's FakeClock (which the
receiver shares). Each test drives the sender one pass at a time (``send_due``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from leadrelay.services.notifier.subscriptions import (
    Created,
    create_subscription,
    redrive,
    remove_subscription,
    rotate_secret,
)
from leadrelay.services.notifier.targets import OutgoingEvent, TargetConfig
from leadrelay.services.notifier.targets.webhook import StandardWebhook
from leadrelay.services.notifier.webhook_handler import WebhookFanout
from leadrelay.services.notifier.webhook_sender import WebhookSender
from leadrelay.shared.adapters.sql.store import SqlStore
from leadrelay.shared.clock import system_clock
from leadrelay.shared.events import (
    Envelope,
    LeadActivity,
    LeadAssigned,
    LeadContact,
    LeadQualified,
    LeadSummary,
    SlaEvent,
    new_id,
)
from leadrelay.shared.metrics import Metrics
from leadrelay.shared.ports import WebhookDeliveryRecord
from leadrelay.shared.secret_box import SecretBox
from leadrelay.shared.signed_webhooks import new_secret
from tests.conftest import FakeClock
from tests.platforms.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.timeout(60)

EVERY_EVENT = ["lead.assigned", "lead.activity", "lead.sla", "lead.recycled", "person.merged"]
LINK_SECRET = "test-link-secret-0123456789"


@dataclass
class World:
    store: SqlStore
    clock: FakeClock
    receiver: WebhookReceiver
    box: SecretBox = field(default_factory=lambda: SecretBox(LINK_SECRET))
    metrics: Metrics = field(default_factory=Metrics)
    senders: list[WebhookSender] = field(default_factory=list)

    def sender(self, **options: float) -> WebhookSender:
        sender = WebhookSender(self.store, self.metrics, self.clock, self.box, timeout_s=5.0, **options)
        self.senders.append(sender)
        return sender

    async def subscribe(self, events: list[str] = EVERY_EVENT, url: str | None = None) -> Created:
        created = await create_subscription(self.store, self.box, url=url or self.receiver.url, events=events)
        assert created.secret is not None and created.secret.startswith("whsec_")
        self.receiver.secret = created.secret
        return created

    async def publish(self, event, key: str = "person-1") -> Envelope:
        """The event as the bus hands it to the fan-out consumer, inside its unit of work."""
        envelope = Envelope.wrap(event, source="test", subject=event.lead_id, key=key, correlation_id=new_id(),
                                 time=self.clock.now)
        async with self.store.transaction() as uow:
            await WebhookFanout(lambda: None)(envelope.payload(), envelope, uow)
        return envelope

    async def deliveries(self, lead_id: str) -> list[WebhookDeliveryRecord]:
        async with self.store.read() as uow:
            return await uow.webhook_deliveries.for_lead(lead_id)

    def count(self, subscription: str, outcome: str) -> float:
        return self.metrics.registry.get_sample_value(
            "leadrelay_webhook_deliveries_total", {"subscription": subscription, "outcome": outcome}) or 0.0


def summary() -> LeadSummary:
    return LeadSummary(source="web", contact=LeadContact(email="li.wei@bigfactory.cn", name="Li Wei",
                                                         company="Big Factory"), score=75, grade="hot")


def assigned(clock: FakeClock, lead_id: str, owner: str = "rep-a") -> LeadAssigned:
    return LeadAssigned(lead_id=lead_id, received_at=clock.now, assigned_at=clock.now, owner=owner,
                        rule="enterprise", policy_version=1, grade="hot", score=75, notify=[owner], lead=summary())


def activity(clock: FakeClock, lead_id: str, action: str = "accepted") -> LeadActivity:
    return LeadActivity(lead_id=lead_id, actor="rep-a", action=action, at=clock.now)


def sla(clock: FakeClock, lead_id: str, step: str = "remind") -> SlaEvent:
    return SlaEvent(lead_id=lead_id, clock="first_touch", step=step, owner="rep-a", notify=["rep-a"],
                    due_at=clock.now, fired_at=clock.now, lead=summary())


@pytest.fixture
def receiver(clock: FakeClock) -> Iterator[WebhookReceiver]:
    with WebhookReceiver("whsec_unset", clock).serve() as running:
        yield running


@pytest.fixture
async def world(tmp_path: Path, clock: FakeClock, receiver: WebhookReceiver) -> AsyncIterator[World]:
    store = SqlStore(f"sqlite+aiosqlite:///{tmp_path}/t.db", clock=clock)
    await store.create_schema()
    world = World(store, clock, receiver)
    try:
        yield world
    finally:
        for sender in world.senders:
            await sender.http.aclose()
        await store.dispose()


async def test_every_event_of_a_lead_reaches_the_subscriber_signed_and_in_order(world: World, clock: FakeClock):
    created = await world.subscribe()
    sender = world.sender()
    lead_id = new_id()
    qualified = LeadQualified(lead_id=lead_id, person_id="person-1", source="web", received_at=clock.now,
                              contact=summary().contact, score=75, grade="hot", reasons=[],
                              duplicate_of="earlier-lead", policy_version=1)
    envelopes = [await world.publish(qualified), await world.publish(assigned(clock, lead_id)),
                 await world.publish(sla(clock, lead_id, "remind")), await world.publish(activity(clock, lead_id)),
                 await world.publish(sla(clock, lead_id, "recycle"))]
    for _ in envelopes:  # one per pass: a lead's next event waits for the one before it
        assert await sender.send_due() == 1

    assert world.receiver.refused == []
    assert [r.type for r in world.receiver.received] == [
        "person.merged", "lead.assigned", "lead.sla", "lead.activity", "lead.recycled"]
    assert world.receiver.ids() == [e.id for e in envelopes]  # webhook-id is the event id
    merged, handed = world.receiver.received[:2]
    assert merged.data == {"lead_id": lead_id, "person_id": "person-1", "duplicate_of": "earlier-lead",
                           "source": "web", "received_at": clock.now.isoformat().replace("+00:00", "Z"),
                           "known_owner": None}
    assert handed.data["owner"] == "rep-a" and handed.data["lead"]["contact"]["email"] == "li.wei@bigfactory.cn"
    assert "notify" not in handed.data  # who is told in chat is not the subscriber's business
    assert {r.timestamp for r in world.receiver.received} == {int(clock.now.timestamp())}
    rows = await world.deliveries(lead_id)
    assert [r.state for r in rows] == ["delivered"] * 5 and all(r.attempts == 1 for r in rows)
    assert world.count(created.subscription.id, "delivered") == 5


async def test_a_subscription_gets_only_the_types_it_asked_for_and_a_redelivered_event_once(world: World,
                                                                                             clock: FakeClock):
    await world.subscribe(events=["lead.activity"])
    lead_id = new_id()
    await world.publish(assigned(clock, lead_id))
    again = await world.publish(activity(clock, lead_id))
    async with world.store.transaction() as uow:  # the bus hands the same event over again
        await WebhookFanout(lambda: None)(again.payload(), again, uow)
    assert [d.event_type for d in await world.deliveries(lead_id)] == ["lead.activity"]


def test_a_receiver_using_the_library_as_documented_accepts_what_we_sign():
    """``Webhook.verify`` with the machine's clock, as a subscriber runs it: our request passes;
    a changed byte, or another secret, does not."""
    secret = new_secret()
    now = system_clock()
    event = OutgoingEvent(id=new_id(), type="lead.assigned", lead_id="lead-1", occurred_at=now,
                          data={"lead_id": "lead-1", "owner": "rep-a"})
    request = StandardWebhook().build(event, TargetConfig("wh_1", "webhook", "https://example.com/h", secret),
                                      None, now)
    assert Webhook(secret).verify(request.body, request.headers) == {
        "type": "lead.assigned", "timestamp": now.isoformat(), "data": {"lead_id": "lead-1", "owner": "rep-a"}}
    assert request.headers["webhook-id"] == event.id
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(request.body.replace(b"rep-a", b"rep-b"), request.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(request.body, request.headers)


async def test_a_receiver_outage_delays_deliveries_and_loses_none(world: World, clock: FakeClock):
    await world.subscribe()
    sender = world.sender()
    leads = [new_id(), new_id()]
    sent = [await world.publish(assigned(clock, lead)) for lead in leads]
    world.receiver.stop()  # connection refused

    assert await sender.send_due() == 2
    for lead in leads:
        [row] = await world.deliveries(lead)
        assert (row.state, row.attempts) == ("pending", 1)
        assert row.next_attempt_at > clock.now and "connection failed" in (row.last_error or "")
    assert await sender.send_due() == 0  # nothing is due before its backoff

    clock.advance(seconds=3)  # 2 s ±20 % after the first attempt
    assert await sender.send_due() == 2
    world.receiver.start()
    clock.advance(seconds=6)  # 4 s ±20 % after the second
    assert await sender.send_due() == 2

    assert sorted(world.receiver.ids()) == sorted(e.id for e in sent)
    for lead in leads:
        [row] = await world.deliveries(lead)
        assert (row.state, row.attempts) == ("delivered", 3)


async def test_a_delivery_the_receiver_took_without_acknowledging_comes_again_with_the_same_id(world: World,
                                                                                                 clock: FakeClock):
    await world.subscribe()
    sender = world.sender()
    lead_id = new_id()
    envelope = await world.publish(assigned(clock, lead_id))
    world.receiver.fail(500, after_taking_it=True)

    await sender.send_due()
    clock.advance(seconds=3)
    await sender.send_due()

    assert world.receiver.ids() == [envelope.id, envelope.id]  # a duplicate, dedupable on webhook-id
    first, second = world.receiver.received
    assert second.timestamp > first.timestamp  # signed anew at each attempt
    [row] = await world.deliveries(lead_id)
    assert (row.state, row.attempts) == ("delivered", 2)


async def test_retry_after_holds_the_subscription_until_then(world: World, clock: FakeClock):
    created = await world.subscribe()
    sender = world.sender()
    first, second = new_id(), new_id()
    await world.publish(assigned(clock, first))
    world.receiver.fail(429, headers={"Retry-After": "30"})

    assert await sender.send_due() == 1
    [row] = await world.deliveries(first)
    assert row.state == "pending" and row.next_attempt_at >= clock.now + timedelta(seconds=30)
    assert world.count(created.subscription.id, "failed") == 1

    await world.publish(assigned(clock, second))  # another lead: due now, but the receiver said wait
    await sender.send_due()
    [held] = await world.deliveries(second)
    assert held.state == "pending" and held.attempts == 0 and held.next_attempt_at >= clock.now + timedelta(seconds=29)
    assert world.receiver.received == []

    clock.advance(seconds=31)
    assert await sender.send_due() == 2
    assert len(world.receiver.received) == 2


async def test_a_leads_later_event_waits_for_the_earlier_one(world: World, clock: FakeClock):
    await world.subscribe()
    sender = world.sender()
    lead_id, other = new_id(), new_id()
    first = await world.publish(assigned(clock, lead_id))
    then = await world.publish(activity(clock, lead_id))
    world.receiver.fail(500)
    assert await sender.send_due() == 1  # the lead's first event (it fails); the next one waits for it
    assert world.receiver.ids() == []

    elsewhere = await world.publish(assigned(clock, other))
    clock.advance(seconds=1)
    assert await sender.send_due() == 1  # another lead is not held up
    assert world.receiver.ids() == [elsewhere.id]  # and the later event did not overtake the earlier one

    clock.advance(seconds=2)
    await sender.send_due()
    await sender.send_due()
    assert world.receiver.ids() == [elsewhere.id, first.id, then.id]


async def test_out_of_attempts_is_dead_lettered_then_redriven(world: World, clock: FakeClock):
    created = await world.subscribe()
    sender = world.sender(max_attempts=3)
    lead_id = new_id()
    envelope = await world.publish(assigned(clock, lead_id))
    follower = await world.publish(activity(clock, lead_id))
    world.receiver.fail(500, times=3)

    for _ in range(3):
        await sender.send_due()
        clock.advance(seconds=10)
    dead, waiting = await world.deliveries(lead_id)
    assert (dead.state, dead.attempts, dead.last_error) == ("dead", 3, "HTTP 500")
    assert world.count(created.subscription.id, "dead_lettered") == 1
    assert world.count(created.subscription.id, "failed") == 2
    await sender.send_due()  # a dead letter does not hold the lead's next event
    assert world.receiver.ids() == [follower.id]
    async with world.store.read() as uow:
        kinds = [h.kind for h in await uow.leads.history(lead_id)]
    assert kinds == ["webhook_dead_lettered", "webhook_delivered"]

    redriven = await redrive(world.store, dead.id, clock.now)
    assert (redriven.state, redriven.attempts) == ("pending", 0)
    await sender.send_due()
    assert world.receiver.ids() == [follower.id, envelope.id]
    dead, _ = await world.deliveries(lead_id)
    assert dead.state == "delivered"


async def test_gone_is_final_at_once(world: World, clock: FakeClock):
    await world.subscribe()
    lead_id = new_id()
    await world.publish(assigned(clock, lead_id))
    world.receiver.fail(410)
    await world.sender().send_due()
    [row] = await world.deliveries(lead_id)
    assert (row.state, row.attempts) == ("dead", 1)


async def test_a_forged_delivery_is_refused_by_the_receiver(world: World, clock: FakeClock):
    """The stand-in checks what a real receiver checks: the wrong secret is refused (and retried)."""
    await world.subscribe()
    world.receiver.secret = new_secret()
    lead_id = new_id()
    await world.publish(assigned(clock, lead_id))
    await world.sender().send_due()
    assert world.receiver.refused == ["no matching signature"] and world.receiver.received == []
    [row] = await world.deliveries(lead_id)
    assert (row.state, row.last_error) == ("pending", "HTTP 401")


async def test_a_removed_subscription_gets_nothing_more(world: World, clock: FakeClock):
    created = await world.subscribe()
    lead_id = new_id()
    await world.publish(assigned(clock, lead_id))
    assert await remove_subscription(world.store, created.subscription.id) == 1
    await world.publish(activity(clock, lead_id))  # after removal: not queued at all
    assert await world.sender().send_due() == 0
    assert [d.state for d in await world.deliveries(lead_id)] == ["cancelled"]
    assert world.receiver.received == []


async def test_after_a_rotation_both_secrets_sign_for_a_day_then_only_the_new_one(world: World, clock: FakeClock):
    created = await world.subscribe()
    old = created.secret
    new = await rotate_secret(world.store, world.box, created.subscription.id)
    sender = world.sender()
    lead_id = new_id()
    await world.publish(assigned(clock, lead_id))
    world.receiver.secret = old  # a receiver not yet switched still accepts
    await sender.send_due()
    assert len(world.receiver.received) == 1 and world.receiver.received[0].signature.count("v1,") == 2

    clock.advance(hours=24, seconds=1)
    await world.publish(activity(clock, lead_id))
    await sender.send_due()
    assert world.receiver.refused == ["no matching signature"]  # the old secret signs no more
    world.receiver.secret = new
    clock.advance(seconds=3)
    await sender.send_due()
    assert [r.signature.count("v1,") for r in world.receiver.received] == [2, 1]


async def test_a_delivery_whose_sender_died_mid_call_is_sent_again_once_its_lease_runs_out(world: World,
                                                                                            clock: FakeClock):
    await world.subscribe()
    lead_id = new_id()
    envelope = await world.publish(assigned(clock, lead_id))
    async with world.store.transaction() as uow:  # what a sender leaves when it dies after leasing
        [row] = await uow.webhook_deliveries.due(clock.now, 10)
        await uow.webhook_deliveries.update(row.id, state="sending", next_attempt_at=clock.now + timedelta(seconds=60))
    sender = world.sender()
    assert await sender.send_due() == 0  # leased: nobody else sends it meanwhile

    clock.advance(seconds=61)
    assert await sender.send_due() == 1
    assert world.receiver.ids() == [envelope.id]
    [row] = await world.deliveries(lead_id)
    assert row.state == "delivered"
