"""Chat deliveries in SQL: the HTTP outbox the sender drains."""

from __future__ import annotations

from datetime import datetime
from typing import Unpack

from sqlalchemy import select, update

from leadrelay.shared.adapters.sql import schema as t
from leadrelay.shared.adapters.sql.transaction import SqlTransaction, record
from leadrelay.shared.ports import DeliveryChanges, DeliveryRecord, NewDelivery

WAITING = ("pending", "sending")  # "sending" past its lease: a sender died mid-call


class SqlDeliveries:
    def __init__(self, tx: SqlTransaction) -> None:
        self.tx = tx

    async def add(self, **delivery: Unpack[NewDelivery]) -> None:
        now = self.tx.clock()
        await self.tx.conn.execute(self.tx.insert_ignore(t.deliveries).values(
            state="pending", attempts=0, next_attempt_at=now, created_at=now, **delivery))

    async def due(self, now: datetime, limit: int) -> list[DeliveryRecord]:
        query = (select(t.deliveries)
                 .where(t.deliveries.c.state.in_(WAITING), t.deliveries.c.next_attempt_at <= now)
                 .order_by(t.deliveries.c.next_attempt_at, t.deliveries.c.id)
                 .limit(limit))
        if self.tx.skips_locked:
            query = query.with_for_update(skip_locked=True)
        return [record(DeliveryRecord, row) for row in await self.tx.conn.execute(query)]

    async def any_due(self, now: datetime) -> bool:
        return (await self.tx.conn.execute(
            select(t.deliveries.c.id).where(t.deliveries.c.state.in_(WAITING), t.deliveries.c.next_attempt_at <= now)
            .limit(1))).first() is not None

    async def update(self, delivery_id: int, **changes: Unpack[DeliveryChanges]) -> None:
        await self.tx.conn.execute(update(t.deliveries).where(t.deliveries.c.id == delivery_id).values(**changes))

    async def for_lead(self, lead_id: str) -> list[DeliveryRecord]:
        query = select(t.deliveries).where(t.deliveries.c.lead_id == lead_id).order_by(t.deliveries.c.id)
        return [record(DeliveryRecord, row) for row in await self.tx.conn.execute(query)]
