"""Which lead a CRM record stands for, in SQL."""

from __future__ import annotations

from sqlalchemy import select

from leadrelay.shared.adapters.sql import schema as t
from leadrelay.shared.adapters.sql.transaction import SqlTransaction, record_or_none
from leadrelay.shared.ports import CrmLinkRecord


class SqlCrmLinks:
    def __init__(self, tx: SqlTransaction) -> None:
        self.tx = tx

    async def link(self, crm: str, record_id: str, lead_id: str) -> None:
        now = self.tx.clock()
        statement = self.tx.insert(t.crm_links).values(crm=crm, record_id=record_id, lead_id=lead_id, linked_at=now)
        await self.tx.conn.execute(statement.on_conflict_do_update(
            index_elements=[t.crm_links.c.crm, t.crm_links.c.record_id], set_={"lead_id": lead_id, "linked_at": now}))

    async def get(self, crm: str, record_id: str) -> CrmLinkRecord | None:
        row = (await self.tx.conn.execute(select(t.crm_links).where(
            t.crm_links.c.crm == crm, t.crm_links.c.record_id == record_id))).first()
        return record_or_none(CrmLinkRecord, row)
