"""Policy versions in SQL; each version's document is parsed once per process."""

from __future__ import annotations

import hashlib

from sqlalchemy import func, insert, select

from leadrelay.shared.adapters.sql import schema as t
from leadrelay.shared.adapters.sql.transaction import SqlTransaction, record
from leadrelay.shared.policy import Policy, load_policy
from leadrelay.shared.ports import PolicyVersionRecord


class PolicyCache:
    """Parsed policies by version, for one process: a committed version's document never
    changes. Only committed versions go in: a version stored and read in a transaction that
    rolls back must not shadow the document later stored under its number."""

    def __init__(self) -> None:
        self.parsed: dict[int, Policy] = {}


class SqlPolicies:
    def __init__(self, tx: SqlTransaction, cache: PolicyCache) -> None:
        self.tx = tx
        self.cache = cache

    async def current(self) -> tuple[int, Policy] | None:
        version = (await self.tx.conn.execute(select(func.max(t.policies.c.version)))).scalar_one_or_none()
        if version is None:
            return None
        return version, await self.get(version)

    async def get(self, version: int) -> Policy:
        if version in self.cache.parsed:
            return self.cache.parsed[version]
        row = (await self.tx.conn.execute(select(t.policies).where(t.policies.c.version == version))).first()
        if row is None:
            raise LookupError(f"no policy version {version}")
        policy = load_policy(row.document)

        def remember() -> None:
            self.cache.parsed.setdefault(version, policy)

        if self.tx.read_only:
            remember()  # a read sees only committed rows
        else:
            self.tx.after_commit(remember)
        return policy

    async def document(self, version: int | None = None) -> tuple[int, str] | None:
        query = select(t.policies.c.version, t.policies.c.document)
        query = query.where(t.policies.c.version == version) if version else query.order_by(
            t.policies.c.version.desc()).limit(1)
        row = (await self.tx.conn.execute(query)).first()
        return (row.version, row.document) if row else None

    async def store(self, document: str, created_by: str | None = None) -> tuple[int, bool]:
        digest = hashlib.sha256(document.encode()).hexdigest()
        current = (await self.tx.conn.execute(
            select(t.policies.c.version, t.policies.c.digest).order_by(t.policies.c.version.desc()).limit(1)
        )).first()
        if current is not None and current.digest == digest:
            return current.version, False
        version = (current.version + 1) if current else 1
        await self.tx.conn.execute(insert(t.policies).values(
            version=version, document=document, digest=digest, created_at=self.tx.clock(), created_by=created_by))
        return version, True

    async def versions(self, limit: int = 100) -> list[PolicyVersionRecord]:
        query = (select(t.policies.c.version, t.policies.c.digest, t.policies.c.created_at, t.policies.c.created_by)
                 .order_by(t.policies.c.version.desc()).limit(limit))
        return [record(PolicyVersionRecord, row) for row in await self.tx.conn.execute(query)]
