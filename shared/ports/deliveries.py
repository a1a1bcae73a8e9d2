"""Chat deliveries: an HTTP outbox the sender drains, with retries and leases."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol, TypedDict, Unpack

from leadrelay.shared.ports.records import DeliveryRecord


class NewDelivery(TypedDict):
    dedup_key: str
    lead_id: str
    recipient: str
    kind: str
    platform: str
    message: dict[str, Any]
    received_at: datetime | None


class DeliveryChanges(TypedDict, total=False):
    state: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    sent_at: datetime | None


class DeliveryRepository(Protocol):
    async def add(self, **delivery: Unpack[NewDelivery]) -> None:
        """Queues a message, due now; a second one with the same ``dedup_key`` is ignored."""
        ...

    async def due(self, now: datetime, limit: int) -> list[DeliveryRecord]:
        """Pending (or lease-expired) deliveries due at ``now``, held until the transaction ends."""
        ...

    async def any_due(self, now: datetime) -> bool: ...

    async def update(self, delivery_id: int, **changes: Unpack[DeliveryChanges]) -> None: ...

    async def for_lead(self, lead_id: str) -> list[DeliveryRecord]: ...
