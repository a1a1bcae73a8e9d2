"""The web console's sign-in sessions, in SQL."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, insert, or_, select, update

from leadrelay.shared.adapters.sql import schema as t
from leadrelay.shared.adapters.sql.transaction import SqlTransaction, record_or_none
from leadrelay.shared.ports import ConsoleSessionRecord


class SqlConsoleSessions:
    def __init__(self, tx: SqlTransaction) -> None:
        self.tx = tx

    async def add(self, session_hash: str, token_hash: str, lang: str | None) -> None:
        now = self.tx.clock()
        await self.tx.conn.execute(insert(t.console_sessions).values(
            session_hash=session_hash, token_hash=token_hash, lang=lang, created_at=now, last_seen_at=now))

    async def get(self, session_hash: str) -> ConsoleSessionRecord | None:
        row = (await self.tx.conn.execute(
            select(t.console_sessions).where(t.console_sessions.c.session_hash == session_hash))).first()
        return record_or_none(ConsoleSessionRecord, row)

    async def touch(self, session_hash: str) -> None:
        await self.tx.conn.execute(update(t.console_sessions).where(
            t.console_sessions.c.session_hash == session_hash).values(last_seen_at=self.tx.clock()))

    async def set_lang(self, session_hash: str, lang: str | None) -> None:
        await self.tx.conn.execute(update(t.console_sessions).where(
            t.console_sessions.c.session_hash == session_hash).values(lang=lang))

    async def delete(self, session_hash: str) -> bool:
        result = await self.tx.conn.execute(delete(t.console_sessions).where(
            t.console_sessions.c.session_hash == session_hash))
        return result.rowcount == 1

    async def forget_older(self, created_before: datetime, seen_before: datetime) -> int:
        result = await self.tx.conn.execute(delete(t.console_sessions).where(or_(
            t.console_sessions.c.created_at < created_before, t.console_sessions.c.last_seen_at < seen_before)))
        return result.rowcount
