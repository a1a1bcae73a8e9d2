"""The SQL store: units of work over SQLAlchemy Core, for SQLite (embedded) and PostgreSQL.

Only the engine differs between the two. On PostgreSQL row locks are ``SELECT … FOR UPDATE``;
SQLite ignores those clauses, and instead every write transaction starts with ``BEGIN
IMMEDIATE``, which takes the database's single write lock up front, so the same code is
serialisable on both. Each repository of a unit of work lives in its own module beside this one
and shares the unit's :class:`SqlTransaction`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from leadrelay.shared.adapters.sql import schema as t
from leadrelay.shared.adapters.sql.access import SqlIdempotency, SqlSources, SqlTokens
from leadrelay.shared.adapters.sql.clocks import SqlClocks
from leadrelay.shared.adapters.sql.crm_links import SqlCrmLinks
from leadrelay.shared.adapters.sql.deliveries import SqlDeliveries
from leadrelay.shared.adapters.sql.errors import unavailable_on_outage
from leadrelay.shared.adapters.sql.leads import SqlLeads
from leadrelay.shared.adapters.sql.log import SqlLog
from leadrelay.shared.adapters.sql.matches import SqlMatches
from leadrelay.shared.adapters.sql.outbox import SqlInbox, SqlOutbox
from leadrelay.shared.adapters.sql.people import SqlPeople
from leadrelay.shared.adapters.sql.policies import PolicyCache, SqlPolicies
from leadrelay.shared.adapters.sql.privacy import SqlPrivacy
from leadrelay.shared.adapters.sql.reports import SqlReports
from leadrelay.shared.adapters.sql.roster import SqlRoster
from leadrelay.shared.adapters.sql.sessions import SqlConsoleSessions
from leadrelay.shared.adapters.sql.transaction import Dialect, SqlTransaction
from leadrelay.shared.adapters.sql.webhooks import SqlSubscriptions, SqlWebhookDeliveries
from leadrelay.shared.clock import Clock, system_clock


def create_engine(url: str, *, immediate: bool) -> AsyncEngine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, pool_size=4, max_overflow=4, pool_timeout=60)

        @event.listens_for(engine.sync_engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # pysqlite's own BEGIN handling defers the lock; we emit BEGIN ourselves.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            # FULL: a commit is on disk before we answer 202 (kill -9 and power loss).
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA busy_timeout=60000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _on_begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    return create_async_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True)


class SqlStore:
    """Owns the engines; hands out units of work. ``commit_listeners`` wake the outbox readers."""

    def __init__(self, url: str, clock: Clock = system_clock) -> None:
        self.url = url
        self.dialect: Dialect = "sqlite" if url.startswith("sqlite") else "postgresql"
        self.engine = create_engine(url, immediate=True)
        self.read_engine = create_engine(url, immediate=False) if self.dialect == "sqlite" else self.engine
        # Every time this store stamps (created_at, next_attempt_at, revoked_at, …) is read here:
        # the runtime's clock, so a test's clock moves stored and compared times together.
        self.clock = clock
        # Called after a commit that wrote outbox rows, with the topics written.
        self.commit_listeners: list[Callable[[set[str]], None]] = []
        self.policy_cache = PolicyCache()
        # Fairness rows (reps' loads, cursors) seen committed: a lock skips inserting them (SqlRoster).
        self.fairness_rows: set[tuple[int, str]] = set()
        # SQLite has one writer. Queueing this process's writers here, instead of letting them
        # collide on BEGIN IMMEDIATE, keeps SQLite's busy handler (which sleeps up to 100 ms a
        # try) out of the hot path; other processes still wait on busy_timeout.
        self._write_turn = asyncio.Lock() if self.dialect == "sqlite" else None

    async def create_schema(self) -> None:
        async with self.engine.begin() as conn:
            await conn.run_sync(t.metadata.create_all)

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self.read_engine is not self.engine:
            await self.read_engine.dispose()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[SqlUnitOfWork]:
        """Commits when the block ends without an exception; rolls back otherwise. Raises
        StoreUnavailable when the database is away (on begin, any statement, or the commit)."""
        with unavailable_on_outage():
            async with self._write_turn or contextlib.nullcontext(), self.engine.begin() as conn:
                uow = SqlUnitOfWork(conn, self, read_only=False)
                yield uow
        tx = uow.tx
        if tx.emitted:
            for listener in self.commit_listeners:
                listener(tx.emitted)
        for callback in tx.on_commit:
            callback()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[SqlUnitOfWork]:
        with unavailable_on_outage():
            async with self.read_engine.connect() as conn:
                yield SqlUnitOfWork(conn, self, read_only=True)


class SqlUnitOfWork:
    """One transaction, every repository on it (the ``UnitOfWork`` port), plus ``log``: the
    outbox read as an event log, for the embedded bus and the Kafka relay only."""

    def __init__(self, conn: AsyncConnection, store: SqlStore, *, read_only: bool) -> None:
        self.tx = tx = SqlTransaction(conn, store.dialect, store.clock, read_only=read_only)
        self.outbox = SqlOutbox(tx)
        self.inbox = SqlInbox(tx)
        self.policies = SqlPolicies(tx, store.policy_cache)
        self.sources = SqlSources(tx)
        self.tokens = SqlTokens(tx)
        self.idempotency = SqlIdempotency(tx)
        self.people = SqlPeople(tx)
        self.matches = SqlMatches(tx)
        self.leads = SqlLeads(tx)
        self.roster = SqlRoster(tx, store.fairness_rows)
        self.clocks = SqlClocks(tx)
        self.deliveries = SqlDeliveries(tx)
        self.subscriptions = SqlSubscriptions(tx)
        self.webhook_deliveries = SqlWebhookDeliveries(tx)
        self.reports = SqlReports(tx)
        self.console_sessions = SqlConsoleSessions(tx)
        self.crm_links = SqlCrmLinks(tx)
        self.privacy = SqlPrivacy(tx)
        self.log = SqlLog(tx)

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Runs ``callback`` only if and after this transaction commits (metrics, wake-ups)."""
        self.tx.after_commit(callback)
