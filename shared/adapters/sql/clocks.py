"""SLA clock steps in SQL; PostgreSQL replicas share due steps with SKIP LOCKED."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Unpack

from sqlalchemy import func, select, update

from leadrelay.shared.adapters.sql import schema as t
from leadrelay.shared.adapters.sql.transaction import SqlTransaction, record
from leadrelay.shared.clock import as_utc
from leadrelay.shared.ports import ClockRecord, PlannedStep


class SqlClocks:
    def __init__(self, tx: SqlTransaction) -> None:
        self.tx = tx

    async def add(self, **step: Unpack[PlannedStep]) -> None:
        await self.add_many([step])

    async def add_many(self, steps: Sequence[PlannedStep]) -> None:
        if steps:
            await self.tx.conn.execute(self.tx.insert_ignore(t.sla_clocks),
                                       [dict(step, state="pending") for step in steps])

    async def cancel(self, lead_id: str, clocks: Sequence[str] | None = None) -> int:
        query = update(t.sla_clocks).where(t.sla_clocks.c.lead_id == lead_id, t.sla_clocks.c.state == "pending")
        if clocks is not None:
            query = query.where(t.sla_clocks.c.clock.in_(list(clocks)))
        return (await self.tx.conn.execute(query.values(state="cancelled"))).rowcount

    async def transfer(self, lead_id: str, new_owner: str) -> None:
        await self.tx.conn.execute(
            update(t.sla_clocks)
            .where(t.sla_clocks.c.lead_id == lead_id, t.sla_clocks.c.state == "pending",
                   t.sla_clocks.c.clock != "offer")
            .values(owner=new_owner))

    async def any_due(self, now: datetime) -> bool:
        return (await self.tx.conn.execute(
            select(t.sla_clocks.c.timer_id).where(t.sla_clocks.c.state == "pending", t.sla_clocks.c.due_at <= now)
            .limit(1))).first() is not None

    async def claim_due(self, now: datetime, limit: int) -> list[ClockRecord]:
        query = (select(t.sla_clocks)
                 .where(t.sla_clocks.c.state == "pending", t.sla_clocks.c.due_at <= now)
                 .order_by(t.sla_clocks.c.due_at, t.sla_clocks.c.timer_id)
                 .limit(limit))
        if self.tx.skips_locked:
            # Any number of scheduler replicas share due steps; none fires a step twice.
            query = query.with_for_update(skip_locked=True)
        return [record(ClockRecord, row) for row in await self.tx.conn.execute(query)]

    async def mark(self, timer_ids: Sequence[str], state: str, at: datetime) -> None:
        if timer_ids:
            await self.tx.conn.execute(update(t.sla_clocks).where(t.sla_clocks.c.timer_id.in_(list(timer_ids)))
                                       .values(state=state, fired_at=at))

    async def for_lead(self, lead_id: str) -> list[ClockRecord]:
        query = select(t.sla_clocks).where(t.sla_clocks.c.lead_id == lead_id).order_by(t.sla_clocks.c.due_at)
        return [record(ClockRecord, row) for row in await self.tx.conn.execute(query)]

    async def stats(self, now: datetime) -> tuple[int, datetime | None]:
        pending = t.sla_clocks.c.state == "pending"
        count = (await self.tx.conn.execute(select(func.count()).select_from(t.sla_clocks).where(pending))).scalar_one()
        oldest = (await self.tx.conn.execute(
            select(func.min(t.sla_clocks.c.due_at)).where(pending, t.sla_clocks.c.due_at <= now))).scalar_one()
        return count, as_utc(oldest)
