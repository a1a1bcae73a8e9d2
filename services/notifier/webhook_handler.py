"""The webhook fan-out: each lead event becomes one queued delivery per subscription that asked
for its type, written in the consumer's exactly-once transaction (it runs in the notifier's
consumer group, beside the chat handler: ``line.py``). The sender
(``webhook_sender.py``) posts them, so a slow subscriber never holds up the event line, and a
redelivered event queues nothing twice (the delivery's key is the event id and the subscription)."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar, Protocol

from leadrelay.services.notifier.webhook_events import outgoing_event
from leadrelay.shared.events import (
    Contract,
    Envelope,
    LeadActivity,
    LeadAssigned,
    LeadQualified,
    PersonErased,
    SlaEvent,
)
from leadrelay.shared.ports import SubscriptionRepository, Transaction, WebhookDeliveryRepository


class WebhookWork(Transaction, Protocol):
    subscriptions: SubscriptionRepository
    webhook_deliveries: WebhookDeliveryRepository


class WebhookFanout:
    name: ClassVar[str] = "webhooks"
    events: ClassVar[tuple[type[Contract], ...]] = (LeadAssigned, SlaEvent, LeadActivity, LeadQualified, PersonErased)

    def __init__(self, wake_sender: Callable[[], None]) -> None:
        self.wake_sender = wake_sender

    async def __call__(self, event: Contract, envelope: Envelope, uow: WebhookWork) -> None:
        outgoing = outgoing_event(event, envelope)
        if outgoing is None:
            return
        subscribed = [s for s in await uow.subscriptions.list() if outgoing.type in s.event_types]
        for subscription in subscribed:
            await uow.webhook_deliveries.add(
                dedup_key=f"{outgoing.id}:{subscription.id}", subscription_id=subscription.id, event_id=outgoing.id,
                event_type=outgoing.type, lead_id=outgoing.lead_id, occurred_at=outgoing.occurred_at,
                payload=outgoing.data)
        if subscribed:
            uow.after_commit(self.wake_sender)
