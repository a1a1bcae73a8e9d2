"""Fuzzy matching's state, in SQL."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, delete, insert, or_, select, update

from leadrelay.shared.adapters.sql import schema as t
from leadrelay.shared.adapters.sql.transaction import SqlTransaction, record, record_or_none
from leadrelay.shared.ports import DuplicatePair, PersonMerge


class SqlMatches:
    def __init__(self, tx: SqlTransaction) -> None:
        self.tx = tx

    async def candidates(self, match_keys: Sequence[str], per_key: int) -> list[str]:
        found: list[str] = []
        for key in match_keys:
            rows = await self.tx.conn.execute(
                select(t.person_match_keys.c.person_id).where(t.person_match_keys.c.match_key == key)
                .order_by(t.person_match_keys.c.seen_at.desc(), t.person_match_keys.c.person_id).limit(per_key))
            found += [row.person_id for row in rows if row.person_id not in found]
        return found

    async def link(self, person_id: str, match_keys: Sequence[str], seen_at: datetime) -> None:
        if not match_keys:
            return
        table = t.person_match_keys
        statement = self.tx.insert(table).values([{"match_key": key, "person_id": person_id, "seen_at": seen_at}
                                                  for key in match_keys])
        await self.tx.conn.execute(statement.on_conflict_do_update(
            index_elements=[table.c.match_key, table.c.person_id], set_={"seen_at": statement.excluded.seen_at}))

    async def unlink(self, person_id: str) -> None:
        await self.tx.conn.execute(delete(t.person_match_keys).where(t.person_match_keys.c.person_id == person_id))

    async def record_merge(self, merge: PersonMerge) -> None:
        await self.tx.conn.execute(insert(t.person_merges).values(**dataclasses.asdict(merge)))

    async def merge(self, merge_id: str) -> PersonMerge | None:
        row = (await self.tx.conn.execute(
            select(t.person_merges).where(t.person_merges.c.merge_id == merge_id))).first()
        return record_or_none(PersonMerge, row)

    async def merges(self, limit: int = 100) -> list[PersonMerge]:
        rows = await self.tx.conn.execute(
            select(t.person_merges).order_by(t.person_merges.c.merged_at.desc(), t.person_merges.c.merge_id)
            .limit(limit))
        return [record(PersonMerge, row) for row in rows]

    async def mark_undone(self, merge_id: str, at: datetime, by: str) -> bool:
        result = await self.tx.conn.execute(
            update(t.person_merges).where(t.person_merges.c.merge_id == merge_id,
                                          t.person_merges.c.undone_at.is_(None))
            .values(undone_at=at, undone_by=by))
        return result.rowcount == 1

    async def add_pair(self, pair: DuplicatePair) -> None:
        await self.tx.conn.execute(insert(t.duplicate_pairs).values(**dataclasses.asdict(pair)))

    async def pair(self, pair_id: str) -> DuplicatePair | None:
        row = (await self.tx.conn.execute(
            select(t.duplicate_pairs).where(t.duplicate_pairs.c.pair_id == pair_id))).first()
        return record_or_none(DuplicatePair, row)

    async def pairs(self, state: str | None = "open", limit: int = 100) -> list[DuplicatePair]:
        query = (select(t.duplicate_pairs)
                 .order_by(t.duplicate_pairs.c.created_at.desc(), t.duplicate_pairs.c.pair_id).limit(limit))
        if state is not None:
            query = query.where(t.duplicate_pairs.c.state == state)
        return [record(DuplicatePair, row) for row in await self.tx.conn.execute(query)]

    async def decide(self, pair_id: str, state: str, at: datetime, by: str) -> bool:
        result = await self.tx.conn.execute(
            update(t.duplicate_pairs).where(t.duplicate_pairs.c.pair_id == pair_id,
                                            t.duplicate_pairs.c.state == "open")
            .values(state=state, decided_at=at, decided_by=by))
        return result.rowcount == 1

    async def kept_apart(self, person_id: str, other_person_id: str) -> bool:
        pairs = t.duplicate_pairs.c
        row = (await self.tx.conn.execute(select(pairs.pair_id).where(
            pairs.state == "kept_apart",
            or_(and_(pairs.person_id == person_id, pairs.other_person_id == other_person_id),
                and_(pairs.person_id == other_person_id, pairs.other_person_id == person_id))).limit(1))).first()
        return row is not None
