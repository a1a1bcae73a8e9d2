"""The notifier's chat sender over a real SQLite store and the faithful fake chat platforms.

Each test queues delivery rows the way the notifier handler does, then drives the sender one pass
at a time (``send_due``) on the product's clock, a FakeClock the fake platforms share. Nothing of
ours is mocked: the rows, the policy, the HTTP calls and the platforms' answers are all real, so
what a pass leaves in the store (state, attempts, next attempt, history) is what production does.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from leadrelay.services.notifier import sender as sender_module
from leadrelay.services.notifier.messages import LeadCard, Reader, lead_message, message_to_json
from leadrelay.services.notifier.sender import ChatSender
from leadrelay.shared.adapters.sql.store import SqlStore
from leadrelay.shared.clock import as_utc
from leadrelay.shared.events import new_id
from leadrelay.shared.metrics import Metrics
from leadrelay.shared.ports import DeliveryRecord, HistoryEntry
from tests.conftest import FakeClock, policy_text
from tests.platforms.fake_chat import FakeChat

pytestmark = pytest.mark.timeout(60)

# The test policy's webhooks (tests/fixtures/policy.yaml, filled in by ``policy_text``).
HOOK_A, HOOK_B = "T000/B000/webhook_a", "T000/B000/webhook_b"
# backoff_seconds(n) is 2**n seconds with ±20 % jitter (sender.py).
JITTER = (0.8, 1.2)


@dataclass
class Notifier:
    """The sender's world: a store holding the test policy, the shared clock, the fake chat."""

    store: SqlStore
    clock: FakeClock
    chat: FakeChat
    metrics: Metrics = field(default_factory=Metrics)
    senders: list[ChatSender] = field(default_factory=list)

    def sender(self, store: SqlStore | None = None, **options: float) -> ChatSender:
        """A sender (as a notifier process builds one), closed by the fixture."""
        sender = ChatSender(store or self.store, self.metrics, self.clock, timeout_s=5.0, **options)
        self.senders.append(sender)
        return sender

    async def queue(self, recipient: str = "rep-a", *, kind: str = "assigned", lead_id: str | None = None,
                    received_at: datetime | None = None) -> str:
        """Queues one delivery as the notifier handler does; returns its lead id (one row per lead)."""
        lead_id = lead_id or new_id()
        card = LeadCard(lead_id=lead_id, contact={"name": "Li Wei", "company": "Big Factory"}, source="web",
                        score=75, grade="hot", reasons=(("senior-title", 40),))
        message = lead_message(kind, card, Reader(recipient), "http://leadrelay.test")
        async with self.store.transaction() as uow:
            await uow.deliveries.add(dedup_key=f"{new_id()}:{recipient}", lead_id=lead_id, recipient=recipient,
                                     kind=kind, platform="slack", message=message_to_json(message),
                                     received_at=received_at)
        return lead_id

    async def delivery(self, lead_id: str) -> DeliveryRecord:
        async with self.store.read() as uow:
            [row] = await uow.deliveries.for_lead(lead_id)
        return row

    async def history(self, lead_id: str) -> list[HistoryEntry]:
        async with self.store.read() as uow:
            return await uow.leads.history(lead_id)

    def count(self, name: str, **labels: str) -> float:
        return self.metrics.registry.get_sample_value(name, labels) or 0.0

    def sent(self, kind: str = "assigned", platform: str = "slack") -> float:
        return self.count("leadrelay_notifications_sent_total", platform=platform, kind=kind)

    def failed(self, outcome: str, platform: str = "slack") -> float:
        return self.count("leadrelay_notification_failures_total", platform=platform, outcome=outcome)

    def posts(self, token: str | None = None) -> int:
        """Requests that reached the fake platform, accepted or refused."""
        return len(self.chat.messages(token=token)) + len([r for r in self.chat.rejections()
                                                           if token in (None, r.token)])


@pytest.fixture
async def notifier(tmp_path: Path, chat: FakeChat, clock: FakeClock) -> AsyncIterator[Notifier]:
    # The platforms share the product's time (rate windows, signature skew), as in production.
    chat.clock = lambda: clock.now.timestamp()
    store = SqlStore(f"sqlite+aiosqlite:///{tmp_path}/t.db", clock=clock)
    await store.create_schema()
    async with store.transaction() as uow:
        await uow.policies.store(policy_text(chat))
    world = Notifier(store, clock, chat)
    try:
        yield world
    finally:
        for sender in world.senders:
            await sender.http.aclose()
        await store.dispose()


def within_backoff(at: datetime, now: datetime, attempt: int) -> bool:
    low, high = (2.0 ** attempt * j for j in JITTER)
    return now + timedelta(seconds=low) <= at <= now + timedelta(seconds=high)


async def test_a_due_delivery_is_posted_once_and_marked_sent(notifier: Notifier):
    sender = notifier.sender()
    received_at = notifier.clock.now - timedelta(seconds=4.5)
    lead_id = await notifier.queue("rep-a", received_at=received_at)

    assert await sender.send_due() == 1

    [message] = notifier.chat.messages("slack")
    assert message.token == HOOK_A
    assert message.payload["text"] == "New hot lead: Li Wei (Big Factory)"
    assert lead_id in str(message.payload)
    row = await notifier.delivery(lead_id)
    assert (row.state, row.attempts, row.last_error) == ("sent", 1, None)
    assert as_utc(row.sent_at) == notifier.clock.now
    [entry] = await notifier.history(lead_id)
    assert entry.kind == "notified"
    assert entry.detail == {"recipient": "rep-a", "platform": "slack", "message": "assigned", "attempts": 1}
    assert as_utc(entry.at) == notifier.clock.now
    assert notifier.sent() == 1
    assert notifier.count("leadrelay_intake_to_notified_seconds_count") == 1
    assert notifier.count("leadrelay_intake_to_notified_seconds_sum") == pytest.approx(4.5)

    # A later pass, even much later, finds nothing: the row is sent, not re-posted.
    notifier.clock.advance(hours=1)
    assert await sender.send_due() == 0
    assert notifier.posts() == 1
    assert notifier.sent() == 1


async def test_a_pass_takes_one_batch_and_the_next_pass_the_rest(notifier: Notifier):
    sender = notifier.sender()
    total = sender_module.BATCH + 5
    lead_ids = [await notifier.queue("rep-b" if n % 2 else "rep-a") for n in range(total)]

    assert await sender.send_due() == sender_module.BATCH
    assert await sender.send_due() == 5
    assert await sender.send_due() == 0

    posted = [m.payload["blocks"] for m in notifier.chat.messages("slack")]
    assert sorted(lead_id for lead_id in lead_ids if lead_id in str(posted)) == sorted(lead_ids)
    assert len(posted) == total  # each once
    assert notifier.sent() == total


async def test_a_transient_failure_is_retried_after_a_backoff_on_the_products_clock(notifier: Notifier):
    sender = notifier.sender()
    lead_id = await notifier.queue("rep-a")
    notifier.chat.fail_next("slack", status=500)

    assert await sender.send_due() == 1

    row = await notifier.delivery(lead_id)
    assert (row.state, row.attempts, row.last_error) == ("pending", 1, "slack 500")
    retry_at = as_utc(row.next_attempt_at)
    assert within_backoff(retry_at, notifier.clock.now, attempt=1), retry_at - notifier.clock.now
    assert notifier.failed("retry") == 1
    assert await notifier.history(lead_id) == []

    # While the product's clock stands still the row waits, however long the real time runs.
    assert await sender.send_due() == 0
    notifier.clock.now = retry_at - timedelta(milliseconds=1)
    assert await sender.send_due() == 0
    assert notifier.posts() == 1

    notifier.clock.now = retry_at
    assert await sender.send_due() == 1

    [message] = notifier.chat.messages("slack")
    assert lead_id in str(message.payload)
    assert [r.reason for r in notifier.chat.rejections()] == ["injected"]
    row = await notifier.delivery(lead_id)
    assert (row.state, row.attempts, row.last_error) == ("sent", 2, None)
    assert [(h.kind, h.detail["attempts"]) for h in await notifier.history(lead_id)] == [("notified", 2)]
    assert (notifier.sent(), notifier.failed("retry"), notifier.failed("permanent")) == (1, 1, 0)


async def test_a_429_holds_every_delivery_to_that_webhook_until_its_retry_after(notifier: Notifier):
    sender = notifier.sender()
    first = await notifier.queue("rep-a")
    notifier.chat.fail_next("slack", status=429, body="rate_limited", headers={"Retry-After": "30"})
    start = notifier.clock.now

    assert await sender.send_due() == 1

    row = await notifier.delivery(first)
    assert (row.state, row.attempts) == ("pending", 1)
    assert as_utc(row.next_attempt_at) == start + timedelta(seconds=30)  # Retry-After beats the 2 s backoff
    assert row.last_error == "slack 429 rate_limited"

    # Ten seconds on, a new message for the same webhook is held back without a request; another
    # webhook on the same platform is not slowed down.
    notifier.clock.advance(seconds=10)
    second = await notifier.queue("rep-a")
    other = await notifier.queue("rep-b")
    assert await sender.send_due() == 2

    assert [m.token for m in notifier.chat.messages("slack")] == [HOOK_B]
    assert notifier.posts(HOOK_A) == 1  # only the request that was answered 429
    held = await notifier.delivery(second)
    assert (held.state, held.attempts) == ("pending", 0)  # waiting is not a failed attempt
    assert as_utc(held.next_attempt_at) == start + timedelta(seconds=30)
    assert (await notifier.delivery(other)).state == "sent"

    notifier.clock.now = start + timedelta(seconds=29)
    assert await sender.send_due() == 0
    notifier.clock.now = start + timedelta(seconds=30)
    assert await sender.send_due() == 2

    assert sorted(m.token for m in notifier.chat.messages("slack")) == [HOOK_A, HOOK_A, HOOK_B]
    assert [(r.state, r.attempts) for r in (await notifier.delivery(first), await notifier.delivery(second))] \
        == [("sent", 2), ("sent", 1)]
    assert (notifier.sent(), notifier.failed("retry")) == (3, 1)


async def test_the_platforms_own_rate_limit_is_waited_out_on_the_shared_clock(notifier: Notifier):
    """The fake Slack's real limiter (one message a minute here) answers 429 with its own
    Retry-After, counted on the clock it shares with the product."""
    notifier.chat.set_limits("slack", (1, 60.0))
    sender = notifier.sender()
    leads = [await notifier.queue("rep-a"), await notifier.queue("rep-a")]
    start = notifier.clock.now

    assert await sender.send_due() == 2

    assert len(notifier.chat.messages("slack", HOOK_A)) == 1
    assert [r.reason for r in notifier.chat.rejections()] == ["rate_limited"]
    rows = [await notifier.delivery(lead_id) for lead_id in leads]
    [waiting] = [row for row in rows if row.state == "pending"]
    assert waiting.attempts == 1
    assert as_utc(waiting.next_attempt_at) == start + timedelta(seconds=60)

    notifier.clock.now = start + timedelta(seconds=59)
    assert await sender.send_due() == 0
    notifier.clock.now = start + timedelta(seconds=60)
    assert await sender.send_due() == 1

    assert len(notifier.chat.messages("slack", HOOK_A)) == 2
    assert {lead_id for lead_id in leads if lead_id in str([m.payload for m in notifier.chat.messages()])} \
        == set(leads)
    assert (await notifier.delivery(waiting.lead_id)).state == "sent"


async def test_an_unknown_webhook_fails_the_delivery_after_one_attempt(notifier: Notifier):
    sender = notifier.sender()
    notifier.chat.unregister("slack", HOOK_A)  # the webhook was revoked
    lead_id = await notifier.queue("rep-a", kind="reminder")

    assert await sender.send_due() == 1

    row = await notifier.delivery(lead_id)
    assert (row.state, row.attempts, row.last_error) == ("failed", 1, "slack 404 no_service")
    [entry] = await notifier.history(lead_id)
    assert entry.kind == "notification_failed"
    assert entry.detail == {"recipient": "rep-a", "platform": "slack", "error": "slack 404 no_service",
                            "attempts": 1}
    assert (notifier.failed("permanent"), notifier.failed("retry"), notifier.sent("reminder")) == (1, 0, 0)

    # Never tried again, even once the webhook exists again.
    notifier.chat.register("slack", HOOK_A)
    notifier.clock.advance(days=1)
    assert await sender.send_due() == 0
    assert notifier.chat.messages() == []
    assert [r.reason for r in notifier.chat.rejections()] == ["unknown_token"]


async def test_max_attempts_caps_the_retries(notifier: Notifier):
    sender = notifier.sender(max_attempts=3)
    lead_id = await notifier.queue("rep-a")
    notifier.chat.fail_next("slack", count=3, status=503)  # a fourth request would be accepted

    for attempt in (1, 2):
        assert await sender.send_due() == 1
        row = await notifier.delivery(lead_id)
        assert (row.state, row.attempts) == ("pending", attempt)
        assert within_backoff(as_utc(row.next_attempt_at), notifier.clock.now, attempt)
        notifier.clock.now = as_utc(row.next_attempt_at)
    assert await sender.send_due() == 1

    row = await notifier.delivery(lead_id)
    assert (row.state, row.attempts, row.last_error) == ("failed", 3, "slack 503")
    [entry] = await notifier.history(lead_id)
    assert (entry.kind, entry.detail["attempts"], entry.detail["error"]) == ("notification_failed", 3, "slack 503")
    assert notifier.failed("retry") + notifier.failed("permanent") == 3

    notifier.clock.advance(days=1)
    assert await sender.send_due() == 0
    assert notifier.chat.messages() == []
    assert notifier.posts() == 3


async def test_a_row_left_sending_by_a_sender_that_died_mid_call_is_sent_once_its_lease_expires(
        notifier: Notifier, tmp_path: Path):
    # The fake notes the moment a request arrives (it reads its clock first thing), so the first
    # sender is killed only once its call is in flight; that call would be answered in 1.5 s.
    arrived = threading.Event()

    def shared_clock() -> float:
        arrived.set()
        return notifier.clock.now.timestamp()

    notifier.chat.clock = shared_clock
    notifier.chat.fail_next("slack", status=500, delay=1.5)
    lead_id = await notifier.queue("rep-a")
    claimed_at = notifier.clock.now

    dying = asyncio.create_task(notifier.sender().send_due())
    assert await asyncio.to_thread(arrived.wait, 10), "the first sender's request never arrived"
    dying.cancel()
    with pytest.raises(asyncio.CancelledError):
        await dying

    row = await notifier.delivery(lead_id)
    assert (row.state, row.attempts) == ("sending", 0)
    lease_end = as_utc(row.next_attempt_at)
    assert lease_end == claimed_at + sender_module.LEASE

    # The restarted process: its own store on the same file, a new sender.
    restarted = SqlStore(f"sqlite+aiosqlite:///{tmp_path}/t.db", clock=notifier.clock)
    try:
        sender = notifier.sender(restarted)
        assert await sender.send_due() == 0  # the lease still holds
        notifier.clock.now = lease_end - timedelta(seconds=1)
        assert await sender.send_due() == 0
        notifier.clock.now = lease_end
        assert await sender.send_due() == 1
    finally:
        await restarted.dispose()

    [message] = notifier.chat.messages("slack", HOOK_A)
    assert lead_id in str(message.payload)
    row = await notifier.delivery(lead_id)
    assert (row.state, row.attempts) == ("sent", 1)
    assert [h.kind for h in await notifier.history(lead_id)] == ["notified"]
    assert notifier.sent() == 1


async def test_a_recipient_without_a_chat_destination_fails_at_once(notifier: Notifier):
    sender = notifier.sender()
    lead_id = await notifier.queue("rep-gone")  # not in the policy (left the team)

    assert await sender.send_due() == 1

    row = await notifier.delivery(lead_id)
    assert (row.state, row.attempts, row.last_error) == ("failed", 1, "no chat destination for rep-gone")
    [entry] = await notifier.history(lead_id)
    assert entry.kind == "notification_failed"
    assert entry.detail == {"recipient": "rep-gone", "platform": "none", "error": "no chat destination for rep-gone",
                            "attempts": 1}
    assert notifier.failed("permanent", platform="none") == 1
    assert notifier.posts() == 0
    notifier.clock.advance(days=1)
    assert await sender.send_due() == 0


async def test_a_signed_platform_accepts_the_signature_stamped_with_the_products_clock(notifier: Notifier):
    """Feishu checks a timestamped signature within an hour of its own time, which here is the
    product's clock, years away from the real one."""
    secret = "feishu-secret"
    url = notifier.chat.register("feishu", "hook-a", secret=secret)
    slack_a = notifier.chat.webhook_url("slack", HOOK_A)
    policy = policy_text(notifier.chat).replace(f'{{platform: slack, webhook: "{slack_a}"}}',
                                                f'{{platform: feishu, webhook: "{url}", secret: "{secret}"}}')
    assert "feishu" in policy
    async with notifier.store.transaction() as uow:
        assert (await uow.policies.store(policy))[1]
    sender = notifier.sender()
    lead_id = await notifier.queue("rep-a")

    assert await sender.send_due() == 1

    assert notifier.chat.rejections() == []
    [message] = notifier.chat.messages("feishu")
    assert int(message.payload["timestamp"]) == int(notifier.clock.now.timestamp())
    assert lead_id in str(message.payload)
    assert [h.detail["platform"] for h in await notifier.history(lead_id)] == ["feishu"]
    assert notifier.sent(platform="feishu") == 1
