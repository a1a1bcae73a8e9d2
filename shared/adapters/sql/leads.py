"""Leads, their history and their routing decisions, in SQL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Unpack

from sqlalchemy import func, insert, or_, select, update

from leadrelay.shared.adapters.sql import schema as t
from leadrelay.shared.adapters.sql.transaction import SqlTransaction, record, record_or_none
from leadrelay.shared.ports import DecisionRecord, HistoryEntry, HistoryRow, LeadChanges, LeadRecord, NewLead


class SqlLeads:
    def __init__(self, tx: SqlTransaction) -> None:
        self.tx = tx

    async def insert(self, **lead: Unpack[NewLead]) -> None:
        await self.tx.conn.execute(insert(t.leads).values(updated_at=self.tx.clock(), **lead))

    async def update(self, lead_id: str, **changes: Unpack[LeadChanges]) -> None:
        await self.tx.conn.execute(
            update(t.leads).where(t.leads.c.lead_id == lead_id).values(updated_at=self.tx.clock(), **changes))

    async def get(self, lead_id: str, *, lock: bool = False) -> LeadRecord | None:
        query = select(t.leads).where(t.leads.c.lead_id == lead_id)
        if lock:
            query = query.with_for_update()
        return record_or_none(LeadRecord, (await self.tx.conn.execute(query)).first())

    async def by_ids(self, lead_ids: Sequence[str], *, lock: bool = False) -> dict[str, LeadRecord]:
        query = select(t.leads).where(t.leads.c.lead_id.in_(sorted(set(lead_ids)))).order_by(t.leads.c.lead_id)
        if lock:  # in id order, so two schedulers locking overlapping sets cannot deadlock
            query = query.with_for_update()
        return {row.lead_id: record(LeadRecord, row) for row in await self.tx.conn.execute(query)}

    async def where(self, *, owner: str | None = None, owners: Sequence[str] | None = None,
                    source: str | None = None, state: str | None = None, queue: str | None = None,
                    teams: Sequence[str | None] | None = None, limit: int = 100) -> list[LeadRecord]:
        query = select(t.leads).order_by(t.leads.c.received_at.desc()).limit(limit)
        if owner is not None:
            query = query.where(t.leads.c.owner == owner)
        if owners is not None:
            query = query.where(t.leads.c.owner.in_(list(owners)))
        if source is not None:
            query = query.where(t.leads.c.source == source)
        if state is not None:
            query = query.where(t.leads.c.state == state)
        if queue is not None:
            query = query.where(t.leads.c.queue == queue)
        if teams is not None:
            named = [team for team in teams if team is not None]
            of_teams = t.leads.c.team.in_(named)
            query = query.where(or_(of_teams, t.leads.c.team.is_(None)) if None in teams else of_teams)
        return [record(LeadRecord, row) for row in await self.tx.conn.execute(query)]

    async def received_between(self, start: datetime, end: datetime, limit: int) -> list[LeadRecord]:
        query = (select(t.leads).where(t.leads.c.received_at >= start, t.leads.c.received_at < end)
                 .order_by(t.leads.c.received_at, t.leads.c.lead_id).limit(limit))
        return [record(LeadRecord, row) for row in await self.tx.conn.execute(query)]

    async def of_persons(self, person_ids: Sequence[str], limit: int = 100) -> list[LeadRecord]:
        if not person_ids:
            return []
        query = (select(t.leads).where(t.leads.c.person_id.in_(sorted(set(person_ids))))
                 .order_by(t.leads.c.received_at.desc(), t.leads.c.lead_id).limit(limit))
        return [record(LeadRecord, row) for row in await self.tx.conn.execute(query)]

    async def add_history(self, lead_id: str, kind: str, detail: dict[str, Any], at: datetime | None = None) -> None:
        await self.tx.conn.execute(insert(t.lead_history).values(
            lead_id=lead_id, at=at or self.tx.clock(), kind=kind, detail=detail))

    async def add_history_many(self, rows: Sequence[HistoryRow]) -> None:
        if rows:
            await self.tx.conn.execute(insert(t.lead_history), list(rows))

    async def history(self, lead_id: str) -> list[HistoryEntry]:
        query = select(t.lead_history).where(t.lead_history.c.lead_id == lead_id).order_by(t.lead_history.c.id)
        return [record(HistoryEntry, row) for row in await self.tx.conn.execute(query)]

    async def add_decision(self, lead_id: str, decided_at: datetime, policy_version: int, rule: str | None,
                           strategy: str | None, owner: str | None, queue: str | None,
                           explanation: dict[str, Any]) -> None:
        await self.tx.conn.execute(insert(t.decisions).values(
            lead_id=lead_id, decided_at=decided_at, policy_version=policy_version, rule=rule, strategy=strategy,
            owner=owner, queue=queue, explanation=explanation))

    async def decisions(self, lead_id: str) -> list[DecisionRecord]:
        query = select(t.decisions).where(t.decisions.c.lead_id == lead_id).order_by(t.decisions.c.id)
        return [record(DecisionRecord, row) for row in await self.tx.conn.execute(query)]

    async def count_decisions(self, lead_id: str) -> int:
        return (await self.tx.conn.execute(
            select(func.count()).select_from(t.decisions).where(t.decisions.c.lead_id == lead_id))).scalar_one()
