"""Fairness state in SQL: loads, cursors, the credit ledger, pool claims, and their row locks.

The locks are the rows themselves: a rep's ``rep_loads`` row stands for everything of theirs a
decision reads (load, credits, claims), a ``routing_cursors`` row for its rotation. On
PostgreSQL ``lock`` is ``SELECT … FOR UPDATE`` over those rows in the lock order (reps by id,
then cursors by key; ``ORDER BY`` sorts before PostgreSQL locks, so rows are taken in that
order). A row that does not exist yet cannot be locked, so missing rows are inserted first
(``ON CONFLICT DO NOTHING``, also in order). Why that is still deadlock-free: while it inserts,
a transaction waits only on another's *uncommitted insert* of the same key, and such a key
each side inserts in ascending order; while it locks, it waits only on committed rows, which
the other side also took in ascending order; and a transaction that is locking never waits on
one still inserting (uncommitted rows are invisible to it, and had it wanted that key its own
insert would already have waited). On SQLite the ``FOR UPDATE`` is dropped: ``BEGIN IMMEDIATE``
already makes every writer wait for the one before it.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime
from typing import Any

from sqlalchemy import Table, case, func, insert, select

from leadrelay.shared.adapters.sql import schema as t
from leadrelay.shared.adapters.sql.transaction import SqlTransaction, record
from leadrelay.shared.clock import as_utc
from leadrelay.shared.ports import LedgerEntry, RepLoadRecord, StoreUnavailable

# Lockable rows: (table rank, key). Reps rank before cursors: that is the lock order.
REP, CURSOR = 0, 1
Row = tuple[int, str]
OLD_ROSTER_LOCK = "__roster__"


class SqlRoster:
    """``known`` is the store's memory of rows seen committed (nothing deletes these rows), so a
    warm router skips the insert and locks in one statement per table. Skipping the insert of a
    committed row changes nothing (the insert would have done nothing), so the argument above
    still holds; should such a row be gone after all, ``lock`` fails instead of making it out of
    order (see there)."""

    def __init__(self, tx: SqlTransaction, known: set[Row] | None = None) -> None:
        self.tx = tx
        self.known = known if known is not None else set()
        self.held: set[Row] = set()

    async def lock(self, reps: Collection[str], cursors: Collection[str] = ()) -> None:
        if isinstance(reps, str) or isinstance(cursors, str):
            raise TypeError("lock() takes collections of rep ids and cursor keys, not a string")
        wanted = sorted({(REP, rep) for rep in reps} | {(CURSOR, key) for key in cursors} - self.held)
        if not wanted:
            return
        new = [row for row in wanted if row not in self.known]
        for rank, table, column, defaults in self._tables():
            missing = [key for kind, key in new if kind == rank]
            if missing:
                await self.tx.conn.execute(self.tx.insert_ignore(table).values(
                    [{column.name: key, **defaults} for key in missing]))
        for rank, _table, column, _defaults in self._tables():
            keys = [key for kind, key in wanted if kind == rank]
            if keys:
                found = set(await self._select_for_update(column, keys))
                if len(found) < len(keys):
                    # Rows this store saw committed were deleted behind its back (a truncated
                    # table). Making them now would take them out of the lock order, so forget
                    # them and fail this transaction: its retry makes them first, in order.
                    self.known.difference_update((rank, key) for key in keys if key not in found)
                    raise StoreUnavailable("fairness rows vanished under a running store; retry")
        self.held.update(wanted)
        self.tx.after_commit(lambda: self.known.update(wanted))

    async def _select_for_update(self, column: Any, keys: list[str]) -> list[str]:
        query = select(column).where(column.in_(keys)).order_by(column).with_for_update()
        return [row[0] for row in await self.tx.conn.execute(query)]

    def _tables(self) -> list[tuple[int, Table, Any, dict[str, Any]]]:
        return [(REP, t.rep_loads, t.rep_loads.c.rep_id, self._defaults(REP)),
                (CURSOR, t.routing_cursors, t.routing_cursors.c.cursor_key, self._defaults(CURSOR))]


    @staticmethod
    def _defaults(rank: int) -> dict[str, Any]:
        if rank == REP:
            return {"open_leads": 0, "assigned_today": 0, "assigned_total": 0, "converted_total": 0, "lost_total": 0}
        return {"position": 0}

    async def loads(self, reps: Collection[str] | None = None) -> dict[str, RepLoadRecord]:
        query = select(t.rep_loads)
        if reps is not None:
            query = query.where(t.rep_loads.c.rep_id.in_(list(reps)))
        return {row.rep_id: record(RepLoadRecord, row) for row in await self.tx.conn.execute(query)}

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

    async def cursors(self, keys: Collection[str] | None = None) -> dict[str, int]:
        query = select(t.routing_cursors)
        if keys is not None:
            query = query.where(t.routing_cursors.c.cursor_key.in_(list(keys)))
        # The row the single roster lock of earlier versions took is no cursor.
        return {row.cursor_key: row.position for row in await self.tx.conn.execute(query)
                if row.cursor_key != OLD_ROSTER_LOCK}

    async def set_cursor(self, key: str, position: int) -> None:
        statement = self.tx.insert(t.routing_cursors).values(cursor_key=key, position=position)
        await self.tx.conn.execute(statement.on_conflict_do_update(
            index_elements=[t.routing_cursors.c.cursor_key], set_={"position": statement.excluded.position}))

    async def credits(self, reps: Collection[str] | None = None) -> dict[str, int]:
        ledger = t.fairness_ledger
        query = select(ledger.c.rep_id, func.sum(ledger.c.delta)).group_by(ledger.c.rep_id)
        if reps is not None:
            query = query.where(ledger.c.rep_id.in_(list(reps)))
        rows = await self.tx.conn.execute(query)
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
