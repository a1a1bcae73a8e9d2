"""Webhook subscriptions and deliveries in SQL: the HTTP outbox the webhook sender drains."""

from __future__ import annotations

from datetime import datetime
from typing import Unpack

from sqlalchemy import and_, exists, select, update

from leadrelay.shared.adapters.sql import schema as t
from leadrelay.shared.adapters.sql.transaction import SqlTransaction, record, record_or_none
from leadrelay.shared.ports import (
    NewSubscription,
    NewWebhookDelivery,
    SubscriptionRecord,
    WebhookDeliveryChanges,
    WebhookDeliveryRecord,
)

WAITING = ("pending", "sending")  # "sending" past its lease: a sender died mid-call
s_ = t.webhook_subscriptions
d_ = t.webhook_deliveries


class SqlSubscriptions:
    def __init__(self, tx: SqlTransaction) -> None:
        self.tx = tx

    async def add(self, **subscription: Unpack[NewSubscription]) -> SubscriptionRecord:
        await self.tx.conn.execute(s_.insert().values(active=True, created_at=self.tx.clock(), **subscription))
        found = await self.get(subscription["id"])
        assert found is not None
        return found

    async def get(self, subscription_id: str) -> SubscriptionRecord | None:
        row = (await self.tx.conn.execute(select(s_).where(s_.c.id == subscription_id))).first()
        return record_or_none(SubscriptionRecord, row)

    async def list(self, *, include_removed: bool = False) -> list[SubscriptionRecord]:
        query = select(s_).order_by(s_.c.created_at, s_.c.id)
        if not include_removed:
            query = query.where(s_.c.active.is_(True))
        return [record(SubscriptionRecord, row) for row in await self.tx.conn.execute(query)]

    async def remove(self, subscription_id: str) -> bool:
        result = await self.tx.conn.execute(update(s_).where(s_.c.id == subscription_id, s_.c.active.is_(True))
                                            .values(active=False, removed_at=self.tx.clock()))
        return result.rowcount > 0

    async def set_secret(self, subscription_id: str, secret: str, previous_secret: str | None) -> bool:
        result = await self.tx.conn.execute(
            update(s_).where(s_.c.id == subscription_id, s_.c.active.is_(True))
            .values(secret=secret, previous_secret=previous_secret, secret_rotated_at=self.tx.clock()))
        return result.rowcount > 0


class SqlWebhookDeliveries:
    def __init__(self, tx: SqlTransaction) -> None:
        self.tx = tx

    async def add(self, **delivery: Unpack[NewWebhookDelivery]) -> None:
        now = self.tx.clock()
        await self.tx.conn.execute(self.tx.insert_ignore(d_).values(
            state="pending", attempts=0, next_attempt_at=now, created_at=now, **delivery))

    def _due(self, now: datetime):  # type: ignore[no-untyped-def]
        earlier = d_.alias("earlier")
        blocked = exists().where(and_(earlier.c.subscription_id == d_.c.subscription_id,
                                      earlier.c.lead_id == d_.c.lead_id, earlier.c.id < d_.c.id,
                                      earlier.c.state.in_(WAITING)))
        return d_.c.state.in_(WAITING), d_.c.next_attempt_at <= now, ~blocked

    async def due(self, now: datetime, limit: int) -> list[WebhookDeliveryRecord]:
        query = select(d_).where(*self._due(now)).order_by(d_.c.next_attempt_at, d_.c.id).limit(limit)
        if self.tx.skips_locked:
            query = query.with_for_update(skip_locked=True, of=d_)
        return [record(WebhookDeliveryRecord, row) for row in await self.tx.conn.execute(query)]

    async def any_due(self, now: datetime) -> bool:
        query = select(d_.c.id).where(*self._due(now)).limit(1)
        return (await self.tx.conn.execute(query)).first() is not None

    async def get(self, delivery_id: int) -> WebhookDeliveryRecord | None:
        row = (await self.tx.conn.execute(select(d_).where(d_.c.id == delivery_id))).first()
        return record_or_none(WebhookDeliveryRecord, row)

    async def update(self, delivery_id: int, **changes: Unpack[WebhookDeliveryChanges]) -> None:
        await self.tx.conn.execute(update(d_).where(d_.c.id == delivery_id).values(**changes))

    async def for_lead(self, lead_id: str) -> list[WebhookDeliveryRecord]:
        query = select(d_).where(d_.c.lead_id == lead_id).order_by(d_.c.id)
        return [record(WebhookDeliveryRecord, row) for row in await self.tx.conn.execute(query)]

    async def list(self, *, subscription_id: str | None = None, states: tuple[str, ...] = (),
                   limit: int = 100) -> list[WebhookDeliveryRecord]:
        query = select(d_).order_by(d_.c.id.desc()).limit(limit)
        if subscription_id is not None:
            query = query.where(d_.c.subscription_id == subscription_id)
        if states:
            query = query.where(d_.c.state.in_(states))
        return [record(WebhookDeliveryRecord, row) for row in await self.tx.conn.execute(query)]

    async def cancel_waiting(self, subscription_id: str) -> int:
        result = await self.tx.conn.execute(
            update(d_).where(d_.c.subscription_id == subscription_id, d_.c.state.in_(("pending", "dead")))
            .values(state="cancelled", last_error="the subscription was removed"))
        return result.rowcount


