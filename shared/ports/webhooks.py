"""Webhook subscriptions (and CRM connectors) and their deliveries: an HTTP outbox like the chat
deliveries, with per-subscription ordering by lead and a dead-letter state with redrive."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol, TypedDict, Unpack

from leadrelay.shared.ports.records import SubscriptionRecord, WebhookDeliveryRecord


class NewSubscription(TypedDict):
    id: str
    url: str
    target: str
    secret: str
    event_types: list[str]
    config: dict[str, Any]


class SubscriptionRepository(Protocol):
    async def add(self, **subscription: Unpack[NewSubscription]) -> SubscriptionRecord:
        """Stores an active subscription created now; returns it."""
        ...

    async def get(self, subscription_id: str) -> SubscriptionRecord | None:
        """The subscription, removed or not."""
        ...

    async def list(self, *, include_removed: bool = False) -> list[SubscriptionRecord]:
        """Subscriptions, oldest first."""
        ...

    async def remove(self, subscription_id: str) -> bool:
        """Stops the subscription now; False when no active one has the id."""
        ...

    async def set_secret(self, subscription_id: str, secret: str, previous_secret: str | None) -> bool:
        """Replaces the (sealed) secret, keeping the old one as ``previous_secret``, rotated now;
        False when no active subscription has the id."""
        ...


class NewWebhookDelivery(TypedDict):
    dedup_key: str
    subscription_id: str
    event_id: str
    event_type: str
    lead_id: str
    occurred_at: datetime
    payload: dict[str, Any]


class WebhookDeliveryChanges(TypedDict, total=False):
    state: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    delivered_at: datetime | None


class WebhookDeliveryRepository(Protocol):
    async def add(self, **delivery: Unpack[NewWebhookDelivery]) -> None:
        """Queues an event for a subscription, due now; one with the same ``dedup_key`` is ignored."""
        ...

    async def due(self, now: datetime, limit: int) -> list[WebhookDeliveryRecord]:
        """Pending (or lease-expired) deliveries due at ``now``, oldest first, held until the
        transaction ends; never one while an earlier delivery of the same subscription and lead is
        still pending or sending (so a lead's events reach a subscriber in order)."""
        ...

    async def any_due(self, now: datetime) -> bool: ...

    async def get(self, delivery_id: int) -> WebhookDeliveryRecord | None: ...

    async def update(self, delivery_id: int, **changes: Unpack[WebhookDeliveryChanges]) -> None: ...

    async def for_lead(self, lead_id: str) -> list[WebhookDeliveryRecord]:
        """The lead's deliveries, in the order they were queued."""
        ...

    async def list(self, *, subscription_id: str | None = None, states: tuple[str, ...] = (),
                   limit: int = 100) -> list[WebhookDeliveryRecord]:
        """The newest deliveries first, filtered by subscription and state."""
        ...

    async def cancel_waiting(self, subscription_id: str) -> int:
        """Cancels the subscription's pending and dead deliveries (it was removed); returns how many."""
        ...
