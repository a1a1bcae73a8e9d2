"""People and their identity keys, in SQL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update

from leadrelay.shared.adapters.sql import schema as t
from leadrelay.shared.adapters.sql.transaction import SqlTransaction, record, record_or_none
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

    async def keys_of(self, person_id: str) -> list[str]:
        rows = await self.tx.conn.execute(
            select(t.person_keys.c.identity_key).where(t.person_keys.c.person_id == person_id))
        return sorted(row.identity_key for row in rows)

    async def get_many(self, person_ids: Sequence[str]) -> dict[str, StoredPerson]:
        rows = await self.tx.conn.execute(select(t.persons).where(t.persons.c.person_id.in_(list(person_ids))))
        return {row.person_id: record(StoredPerson, row) for row in rows}

    async def keys_of_many(self, person_ids: Sequence[str]) -> dict[str, list[str]]:
        rows = await self.tx.conn.execute(
            select(t.person_keys.c.person_id, t.person_keys.c.identity_key)
            .where(t.person_keys.c.person_id.in_(list(person_ids))))
        found: dict[str, list[str]] = {}
        for row in rows:
            found.setdefault(row.person_id, []).append(row.identity_key)
        return {person_id: sorted(keys) for person_id, keys in found.items()}

    async def move_keys(self, keys: Sequence[str], to_person_id: str) -> None:
        if keys:
            await self.tx.conn.execute(update(t.person_keys).where(t.person_keys.c.identity_key.in_(list(keys)))
                                       .values(person_id=to_person_id))

    async def delete(self, person_id: str) -> None:
        await self.tx.conn.execute(delete(t.persons).where(t.persons.c.person_id == person_id))
