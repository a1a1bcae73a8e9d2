"""Fairness state in SQL: loads, cursors, the credit ledger, pool claims, and the roster lock."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import case, func, insert, select

from leadrelay.shared.adapters.sql import schema as t
from leadrelay.shared.adapters.sql.transaction import SqlTransaction, record
from leadrelay.shared.clock import as_utc
from leadrelay.shared.ports import LedgerEntry, RepLoadRecord

ROSTER_LOCK = "__roster__"  # a cursor row that exists only to be locked


class SqlRoster:
    def __init__(self, tx: SqlTransaction) -> None:
        self.tx = tx

    async def lock(self) -> None:
        lock = select(t.routing_cursors.c.position).where(t.routing_cursors.c.cursor_key == ROSTER_LOCK)
        if (await self.tx.conn.execute(lock.with_for_update())).first() is None:
            await self.tx.conn.execute(
                self.tx.insert_ignore(t.routing_cursors).values(cursor_key=ROSTER_LOCK, position=0))
            await self.tx.conn.execute(lock.with_for_update())

    async def loads(self) -> dict[str, RepLoadRecord]:
        return {row.rep_id: record(RepLoadRecord, row) for row in await self.tx.conn.execute(select(t.rep_loads))}

    async def adjust_load(self, rep_id: str, *, today: date, open_delta: int = 0, assigned: int = 0,
                          converted: int = 0, lost: int = 0, at: datetime | None = None) -> None:
        """One upsert: counters move by the deltas; the daily count restarts on a new day."""
        loads = t.rep_loads
        statement = self.tx.insert(loads).values(
            rep_id=rep_id, open_leads=max(0, open_delta), day=today, assigned_today=assigned,
            assigned_total=assigned, converted_total=converted, lost_total=lost,
            last_assigned_at=(at or self.tx.clock()) if assigned else None,
        )
        opened = loads.c.open_leads + open_delta
        changes: dict[str, Any] = {
            "open_leads": case((opened < 0, 0), else_=opened),
            "day": today,
            "assigned_today": case((loads.c.day == today, loads.c.assigned_today + assigned), else_=assigned),
            "assigned_total": loads.c.assigned_total + assigned,
            "converted_total": loads.c.converted_total + converted,
            "lost_total": loads.c.lost_total + lost,
        }
        if assigned:
            changes["last_assigned_at"] = statement.excluded.last_assigned_at
        await self.tx.conn.execute(statement.on_conflict_do_update(index_elements=[loads.c.rep_id], set_=changes))

    async def cursors(self) -> dict[str, int]:
        rows = await self.tx.conn.execute(select(t.routing_cursors))
        return {row.cursor_key: row.position for row in rows if row.cursor_key != ROSTER_LOCK}

    async def set_cursor(self, key: str, position: int) -> None:
        statement = self.tx.insert(t.routing_cursors).values(cursor_key=key, position=position)
        await self.tx.conn.execute(statement.on_conflict_do_update(
            index_elements=[t.routing_cursors.c.cursor_key], set_={"position": statement.excluded.position}))

    async def credits(self) -> dict[str, int]:
        ledger = t.fairness_ledger
        rows = await self.tx.conn.execute(select(ledger.c.rep_id, func.sum(ledger.c.delta)).group_by(ledger.c.rep_id))
        return {rep: int(total or 0) for rep, total in rows}

    async def ledger(self, rep_id: str) -> list[LedgerEntry]:
        query = select(t.fairness_ledger).where(t.fairness_ledger.c.rep_id == rep_id).order_by(t.fairness_ledger.c.id)
        return [record(LedgerEntry, row) for row in await self.tx.conn.execute(query)]

    async def add_credit(self, rep_id: str, delta: int, reason: str, by: str | None, lead_id: str | None) -> None:
        await self.tx.conn.execute(insert(t.fairness_ledger).values(
            rep_id=rep_id, delta=delta, reason=reason, by=by, lead_id=lead_id, at=self.tx.clock()))

    async def add_claim(self, rep_id: str, lead_id: str, at: datetime) -> None:
        await self.tx.conn.execute(insert(t.pool_claims).values(rep_id=rep_id, lead_id=lead_id, at=at))

    async def claims_since(self, rep_id: str, since: datetime) -> list[datetime]:
        rows = await self.tx.conn.execute(
            select(t.pool_claims.c.at).where(t.pool_claims.c.rep_id == rep_id, t.pool_claims.c.at >= since)
            .order_by(t.pool_claims.c.at))
        return [as_utc(row.at) for row in rows]
