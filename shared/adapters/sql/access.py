"""Sources, tokens (and spent single-use nonces) and intake's idempotency keys, in SQL."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, insert, literal, select, update

from leadrelay.shared.adapters.sql import schema as t
from leadrelay.shared.adapters.sql.transaction import SqlTransaction, record, record_or_none
from leadrelay.shared.ports import IdempotencyRecord, SourceRecord, TokenRecord

# Spent nonces are kept this long past their credential's expiry: another process's clock may
# run a little behind ours, and must still find the nonce spent.
NONCE_GRACE = timedelta(hours=1)


class SqlSources:
    def __init__(self, tx: SqlTransaction) -> None:
        self.tx = tx

    async def add(self, name: str, kind: str, key_hash: str, key_prefix: str, config: dict[str, Any]) -> None:
        await self.tx.conn.execute(insert(t.sources).values(
            name=name, kind=kind, key_hash=key_hash, key_prefix=key_prefix, config=config,
            created_at=self.tx.clock()))

    async def by_name(self, name: str) -> SourceRecord | None:
        row = (await self.tx.conn.execute(select(t.sources).where(t.sources.c.name == name))).first()
        return record_or_none(SourceRecord, row)

    async def by_key_hash(self, key_hash: str) -> SourceRecord | None:
        row = (await self.tx.conn.execute(
            select(t.sources).where(t.sources.c.key_hash == key_hash, t.sources.c.revoked_at.is_(None)))).first()
        return record_or_none(SourceRecord, row)

    async def list(self) -> list[SourceRecord]:
        return [record(SourceRecord, row)
                for row in await self.tx.conn.execute(select(t.sources).order_by(t.sources.c.name))]

    async def revoke(self, name: str) -> bool:
        result = await self.tx.conn.execute(
            update(t.sources).where(t.sources.c.name == name, t.sources.c.revoked_at.is_(None))
            .values(revoked_at=self.tx.clock()))
        return result.rowcount == 1

    async def rotate_key(self, name: str, key_hash: str, key_prefix: str) -> bool:
        result = await self.tx.conn.execute(
            update(t.sources).where(t.sources.c.name == name, t.sources.c.revoked_at.is_(None))
            .values(key_hash=key_hash, key_prefix=key_prefix))
        return result.rowcount == 1

    async def reuse(self, name: str, kind: str, key_hash: str, key_prefix: str, config: dict[str, Any]) -> bool:
        result = await self.tx.conn.execute(
            update(t.sources).where(t.sources.c.name == name, t.sources.c.revoked_at.is_not(None))
            .values(kind=kind, key_hash=key_hash, key_prefix=key_prefix, config=config,
                    created_at=self.tx.clock(), revoked_at=None))
        return result.rowcount == 1


class SqlTokens:
    def __init__(self, tx: SqlTransaction) -> None:
        self.tx = tx

    async def add(self, token_hash: str, key_prefix: str, role: str, rep_id: str | None) -> None:
        await self.tx.conn.execute(insert(t.tokens).values(
            token_hash=token_hash, key_prefix=key_prefix, role=role, rep_id=rep_id, created_at=self.tx.clock()))

    async def by_hash(self, token_hash: str) -> TokenRecord | None:
        row = (await self.tx.conn.execute(
            select(t.tokens).where(t.tokens.c.token_hash == token_hash, t.tokens.c.revoked_at.is_(None)))).first()
        return record_or_none(TokenRecord, row)

    async def list(self) -> list[TokenRecord]:
        query = select(t.tokens).order_by(t.tokens.c.created_at, t.tokens.c.key_prefix)
        return [record(TokenRecord, row) for row in await self.tx.conn.execute(query)]

    async def revoke(self, token_hash: str) -> bool:
        result = await self.tx.conn.execute(
            update(t.tokens).where(t.tokens.c.token_hash == token_hash, t.tokens.c.revoked_at.is_(None))
            .values(revoked_at=self.tx.clock()))
        return result.rowcount == 1

    async def spend_nonce(self, nonce: str, expires_at: datetime) -> bool:
        now = self.tx.clock()
        # Spending is rare (a person clicking): it also clears what can no longer be presented.
        await self.tx.conn.execute(delete(t.spent_nonces).where(t.spent_nonces.c.expires_at < now - NONCE_GRACE))
        result = await self.tx.conn.execute(self.tx.insert_ignore(t.spent_nonces).values(
            nonce=nonce, expires_at=expires_at, spent_at=now))
        return result.rowcount == 1

    async def unspend_nonce(self, nonce: str) -> None:
        await self.tx.conn.execute(delete(t.spent_nonces).where(t.spent_nonces.c.nonce == nonce))

    async def nonce_spent(self, nonce: str) -> bool:
        row = (await self.tx.conn.execute(
            select(t.spent_nonces.c.nonce).where(t.spent_nonces.c.nonce == nonce))).first()
        return row is not None


class SqlIdempotency:
    def __init__(self, tx: SqlTransaction) -> None:
        self.tx = tx

    async def get(self, source: str, key: str) -> IdempotencyRecord | None:
        row = (await self.tx.conn.execute(select(t.idempotency_keys).where(
            t.idempotency_keys.c.source == source, t.idempotency_keys.c.key == key))).first()
        return record_or_none(IdempotencyRecord, row)

    async def remember(self, source: str, key: str, body_hash: str, lead_id: str) -> bool:
        result = await self.tx.conn.execute(self.tx.insert_ignore(t.idempotency_keys).values(
            source=source, key=key, body_hash=body_hash, lead_id=lead_id, created_at=self.tx.clock()))
        return result.rowcount == 1

    def _reservation(self, source: str, key: str, body_hash: str) -> Any:
        c = t.idempotency_keys.c
        return (c.source == source) & (c.key == key) & (c.body_hash == body_hash)

    async def answered(self, source: str, key: str, body_hash: str) -> bool:
        c = t.idempotency_keys.c
        result = await self.tx.conn.execute(update(t.idempotency_keys).where(
            self._reservation(source, key, body_hash)).values(
                answered_at=func.coalesce(c.answered_at, literal(self.tx.clock(), c.answered_at.type))))
        return result.rowcount == 1

    async def forget(self, source: str, key: str, body_hash: str) -> bool:
        result = await self.tx.conn.execute(delete(t.idempotency_keys).where(
            self._reservation(source, key, body_hash), t.idempotency_keys.c.answered_at.is_(None)))
        return result.rowcount == 1
