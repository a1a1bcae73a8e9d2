"""People and their identity keys, in SQL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update

from leadrelay.shared.adapters.sql import schema as t
from leadrelay.shared.adapters.sql.transaction import SqlTransaction, record_or_none
from leadrelay.shared.ports import StoredPerson


class SqlPeople:
    def __init__(self, tx: SqlTransaction) -> None:
        self.tx = tx

    async def ids_for_keys(self, keys: Sequence[str]) -> list[str]:
        rows = await self.tx.conn.execute(
            select(t.person_keys.c.person_id).where(t.person_keys.c.identity_key.in_(list(keys))))
        return sorted({row.person_id for row in rows})

    async def get(self, person_id: str, *, lock: bool = False) -> StoredPerson | None:
        query = select(t.persons).where(t.persons.c.person_id == person_id)
        if lock:
            query = query.with_for_update()
        return record_or_none(StoredPerson, (await self.tx.conn.execute(query)).first())

    async def save(self, person_id: str, data: dict[str, Any], owner: str | None, lead_count: int,
                   first_seen_at: datetime, last_seen_at: datetime, keys: Sequence[str], *, new: bool) -> None:
        values = dict(data=data, owner=owner, lead_count=lead_count, first_seen_at=first_seen_at,
                      last_seen_at=last_seen_at)
        if new:
            await self.tx.conn.execute(insert(t.persons).values(person_id=person_id, **values))
        else:
            await self.tx.conn.execute(update(t.persons).where(t.persons.c.person_id == person_id).values(**values))
        if keys:
            await self.tx.conn.execute(self.tx.insert_ignore(t.person_keys),
                                       [{"identity_key": key, "person_id": person_id} for key in keys])

    async def set_owner(self, person_id: str, owner: str | None) -> None:
        await self.tx.conn.execute(update(t.persons).where(t.persons.c.person_id == person_id).values(owner=owner))
