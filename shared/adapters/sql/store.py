"""The SQL store: one unit-of-work over SQLAlchemy Core, for SQLite (embedded) and PostgreSQL.

Only the engine differs between the two. On PostgreSQL row locks are ``SELECT … FOR UPDATE``;
SQLite ignores those clauses, and instead every write transaction starts with ``BEGIN
IMMEDIATE``, which takes the database's single write lock up front, so the same code is
serialisable on both.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import case, delete, event, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from leadrelay.shared.adapters.sql import schema as t
from leadrelay.shared.adapters.sql.errors import unavailable_on_outage
from leadrelay.shared.clock import Clock, as_utc, system_clock
from leadrelay.shared.events import Envelope
from leadrelay.shared.policy import Policy, load_policy


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
    """Owns the engines; hands out units of work. ``on_commit`` hooks wake the outbox readers."""

    def __init__(self, url: str, clock: Clock = system_clock) -> None:
        self.url = url
        # Every time this store stamps (created_at, next_attempt_at, revoked_at, …) is read here:
        # the runtime's clock, so a test's clock moves stored and compared times together.
        self.clock = clock
        self.dialect = "sqlite" if url.startswith("sqlite") else "postgresql"
        self.engine = create_engine(url, immediate=True)
        self.read_engine = create_engine(url, immediate=False) if self.dialect == "sqlite" else self.engine
        # Called after a commit that wrote outbox rows, with the topics written.
        self.commit_listeners: list[Callable[[set[str]], None]] = []
        self._policies: dict[int, Policy] = {}
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
    async def transaction(self) -> AsyncIterator[UnitOfWork]:
        """Commits when the block ends without an exception; rolls back otherwise. Raises
        StoreUnavailable when the database is away (on begin, any statement, or the commit)."""
        with unavailable_on_outage():
            async with self._write_turn or contextlib.nullcontext(), self.engine.begin() as conn:
                uow = UnitOfWork(conn, self)
                yield uow
        if uow.emitted:
            for listener in self.commit_listeners:
                listener(uow.emitted)
        for callback in uow.on_commit:
            callback()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[UnitOfWork]:
        with unavailable_on_outage():
            async with self.read_engine.connect() as conn:
                yield UnitOfWork(conn, self)

    def cached_policy(self, version: int, document: str) -> Policy:
        if version not in self._policies:
            self._policies[version] = load_policy(document)
        return self._policies[version]


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class UnitOfWork:
    """One transaction. Repositories are plain methods grouped by concept below."""

    def __init__(self, conn: AsyncConnection, store: SqlStore) -> None:
        self.conn = conn
        self.store = store
        self.emitted: set[str] = set()  # topics this transaction wrote to the outbox
        self.on_commit: list[Callable[[], None]] = []

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Runs ``callback`` only if and after this transaction commits (metrics, wake-ups)."""
        self.on_commit.append(callback)

    def _insert_ignore(self, table: Any) -> Any:
        dialect = postgresql if self.store.dialect == "postgresql" else sqlite
        return dialect.insert(table).on_conflict_do_nothing()

    # --- events out (the outbox) and in (processed ids) -------------------------------------
    async def emit(self, envelope: Envelope) -> None:
        await self.emit_raw(envelope.topic, envelope.key, envelope.to_bytes(), envelope.id)

    async def emit_many(self, envelopes: Sequence[Envelope]) -> None:
        if envelopes:
            now = self.store.clock()
            await self.conn.execute(insert(t.outbox), [
                {"event_id": e.id, "topic": e.topic, "key": e.key, "payload": e.to_bytes(), "created_at": now}
                for e in envelopes])
            self.emitted.update(e.topic for e in envelopes)

    async def emit_raw(self, topic: str, key: str, payload: bytes, event_id: str) -> None:
        await self.conn.execute(
            insert(t.outbox).values(
                event_id=event_id, topic=topic, key=key, payload=payload, created_at=self.store.clock()
            )
        )
        self.emitted.add(topic)

    async def append_if_new(self, topic: str, key: str, payload: bytes, event_id: str) -> bool:
        """Appends to the outbox unless an event with this id is there already (a retried publish)."""
        result = await self.conn.execute(
            self._insert_ignore(t.outbox).values(
                event_id=event_id, topic=topic, key=key, payload=payload, created_at=self.store.clock()
            )
        )
        if result.rowcount:
            self.emitted.add(topic)
        return result.rowcount == 1

    async def mark_processed(self, consumer: str, event_id: str) -> bool:
        """Returns False when this consumer already handled the event (a redelivery)."""
        result = await self.conn.execute(
            self._insert_ignore(t.processed_events).values(
                consumer=consumer, event_id=event_id, processed_at=self.store.clock()
            )
        )
        return result.rowcount == 1

    async def dead_letter(self, consumer: str, topic: str, event_id: str | None, payload: bytes, error: str) -> None:
        await self.conn.execute(
            insert(t.dead_letters).values(
                consumer=consumer, topic=topic, event_id=event_id, payload=payload,
                error=error[:4000], created_at=self.store.clock(),
            )
        )

    # --- policies ----------------------------------------------------------------------------
    async def current_policy(self) -> tuple[int, Policy] | None:
        """The newest version; the document is read (and parsed) once per version per process."""
        version = (await self.conn.execute(select(func.max(t.policies.c.version)))).scalar_one_or_none()
        if version is None:
            return None
        return version, await self.policy(version)

    async def policy(self, version: int) -> Policy:
        if version in self.store._policies:
            return self.store._policies[version]
        row = (await self.conn.execute(select(t.policies).where(t.policies.c.version == version))).one()
        return self.store.cached_policy(row.version, row.document)

    async def policy_document(self, version: int | None = None) -> tuple[int, str] | None:
        query = select(t.policies.c.version, t.policies.c.document)
        query = query.where(t.policies.c.version == version) if version else query.order_by(
            t.policies.c.version.desc()).limit(1)
        row = (await self.conn.execute(query)).first()
        return (row.version, row.document) if row else None

    async def store_policy(self, document: str, created_by: str | None = None) -> tuple[int, bool]:
        """Stores the document as a new version unless it equals the current one.

        Returns (version, created)."""
        digest = _digest(document)
        current = (
            await self.conn.execute(
                select(t.policies.c.version, t.policies.c.digest).order_by(t.policies.c.version.desc()).limit(1)
            )
        ).first()
        if current is not None and current.digest == digest:
            return current.version, False
        version = (current.version + 1) if current else 1
        await self.conn.execute(
            insert(t.policies).values(
                version=version, document=document, digest=digest,
                created_at=self.store.clock(), created_by=created_by,
            )
        )
        return version, True

    # --- sources and tokens ------------------------------------------------------------------
    async def add_source(self, name: str, kind: str, key_hash: str, key_prefix: str, config: dict[str, Any]) -> None:
        await self.conn.execute(
            insert(t.sources).values(
                name=name, kind=kind, key_hash=key_hash, key_prefix=key_prefix, config=config,
                created_at=self.store.clock(),
            )
        )

    async def source_by_name(self, name: str) -> Any:
        return (await self.conn.execute(select(t.sources).where(t.sources.c.name == name))).first()

    async def source_by_key_hash(self, key_hash: str) -> Any:
        return (
            await self.conn.execute(
                select(t.sources).where(t.sources.c.key_hash == key_hash, t.sources.c.revoked_at.is_(None))
            )
        ).first()

    async def list_sources(self) -> list[Any]:
        return list((await self.conn.execute(select(t.sources).order_by(t.sources.c.name))).all())

    async def revoke_source(self, name: str) -> bool:
        result = await self.conn.execute(
            update(t.sources).where(t.sources.c.name == name, t.sources.c.revoked_at.is_(None))
            .values(revoked_at=self.store.clock())
        )
        return result.rowcount == 1

    async def rotate_source_key(self, name: str, key_hash: str, key_prefix: str) -> bool:
        """Gives an active source a new key; the old one stops working when this commits.
        Returns False when no active source has the name."""
        result = await self.conn.execute(
            update(t.sources).where(t.sources.c.name == name, t.sources.c.revoked_at.is_(None))
            .values(key_hash=key_hash, key_prefix=key_prefix)
        )
        return result.rowcount == 1

    async def reuse_source(self, name: str, kind: str, key_hash: str, key_prefix: str, config: dict[str, Any]
                           ) -> bool:
        """Makes a revoked source's name a new, active source (its leads keep the name).
        Returns False when no revoked source has the name."""
        result = await self.conn.execute(
            update(t.sources).where(t.sources.c.name == name, t.sources.c.revoked_at.is_not(None))
            .values(kind=kind, key_hash=key_hash, key_prefix=key_prefix, config=config,
                    created_at=self.store.clock(), revoked_at=None)
        )
        return result.rowcount == 1

    async def add_token(self, token_hash: str, key_prefix: str, role: str, rep_id: str | None) -> None:
        await self.conn.execute(
            insert(t.tokens).values(
                token_hash=token_hash, key_prefix=key_prefix, role=role, rep_id=rep_id,
                created_at=self.store.clock(),
            )
        )

    async def token_by_hash(self, token_hash: str) -> Any:
        return (
            await self.conn.execute(
                select(t.tokens).where(t.tokens.c.token_hash == token_hash, t.tokens.c.revoked_at.is_(None))
            )
        ).first()

    async def list_tokens(self) -> list[Any]:
        return list((await self.conn.execute(
            select(t.tokens).order_by(t.tokens.c.created_at, t.tokens.c.key_prefix))).all())

    async def revoke_token(self, token_hash: str) -> bool:
        result = await self.conn.execute(
            update(t.tokens).where(t.tokens.c.token_hash == token_hash, t.tokens.c.revoked_at.is_(None))
            .values(revoked_at=self.store.clock())
        )
        return result.rowcount == 1

    # --- intake idempotency ------------------------------------------------------------------
    async def idempotency_record(self, source: str, key: str) -> Any:
        return (
            await self.conn.execute(
                select(t.idempotency_keys).where(
                    t.idempotency_keys.c.source == source, t.idempotency_keys.c.key == key
                )
            )
        ).first()

    async def remember_idempotency(self, source: str, key: str, body_hash: str, lead_id: str) -> bool:
        """Reserves the key; returns False when it was reserved before (a retry or a reuse)."""
        result = await self.conn.execute(
            self._insert_ignore(t.idempotency_keys).values(
                source=source, key=key, body_hash=body_hash, lead_id=lead_id, created_at=self.store.clock()
            )
        )
        return result.rowcount == 1

    # --- persons -----------------------------------------------------------------------------
    async def person_ids_for_keys(self, keys: Sequence[str]) -> list[str]:
        rows = await self.conn.execute(
            select(t.person_keys.c.person_id).where(t.person_keys.c.identity_key.in_(list(keys)))
            .order_by(t.person_keys.c.person_id)
        )
        return sorted({row.person_id for row in rows})

    async def person(self, person_id: str, *, lock: bool = False) -> Any:
        query = select(t.persons).where(t.persons.c.person_id == person_id)
        if lock:
            query = query.with_for_update()
        return (await self.conn.execute(query)).first()

    async def save_person(self, person_id: str, data: dict[str, Any], owner: str | None, lead_count: int,
                          first_seen_at: datetime, last_seen_at: datetime, keys: Sequence[str], *, new: bool) -> None:
        values = dict(data=data, owner=owner, lead_count=lead_count, first_seen_at=first_seen_at,
                      last_seen_at=last_seen_at)
        if new:
            await self.conn.execute(insert(t.persons).values(person_id=person_id, **values))
        else:
            await self.conn.execute(update(t.persons).where(t.persons.c.person_id == person_id).values(**values))
        for key in keys:
            await self.conn.execute(self._insert_ignore(t.person_keys).values(identity_key=key, person_id=person_id))

    async def set_person_owner(self, person_id: str, owner: str | None) -> None:
        await self.conn.execute(update(t.persons).where(t.persons.c.person_id == person_id).values(owner=owner))

    # --- leads -------------------------------------------------------------------------------
    async def insert_lead(self, **values: Any) -> None:
        await self.conn.execute(insert(t.leads).values(updated_at=self.store.clock(), **values))

    async def update_lead(self, lead_id: str, **values: Any) -> None:
        await self.conn.execute(
            update(t.leads).where(t.leads.c.lead_id == lead_id).values(updated_at=self.store.clock(), **values)
        )

    async def lead(self, lead_id: str, *, lock: bool = False) -> Any:
        query = select(t.leads).where(t.leads.c.lead_id == lead_id)
        if lock:
            query = query.with_for_update()
        return (await self.conn.execute(query)).first()

    async def leads_by_id(self, lead_ids: Sequence[str], *, lock: bool = False) -> dict[str, Any]:
        query = select(t.leads).where(t.leads.c.lead_id.in_(sorted(set(lead_ids)))).order_by(t.leads.c.lead_id)
        if lock:  # in id order, so two schedulers locking overlapping sets cannot deadlock
            query = query.with_for_update()
        return {row.lead_id: row for row in await self.conn.execute(query)}

    async def leads_where(self, *, owner: str | None = None, owners: Sequence[str] | None = None,
                          source: str | None = None, state: str | None = None, queue: str | None = None,
                          limit: int = 100) -> list[Any]:
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
        return list((await self.conn.execute(query)).all())

    async def add_history(self, lead_id: str, kind: str, detail: dict[str, Any], at: datetime | None = None) -> None:
        await self.conn.execute(
            insert(t.lead_history).values(lead_id=lead_id, at=at or self.store.clock(), kind=kind, detail=detail)
        )

    async def add_history_many(self, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            await self.conn.execute(insert(t.lead_history), list(rows))

    async def history(self, lead_id: str) -> list[Any]:
        return list(
            (await self.conn.execute(
                select(t.lead_history).where(t.lead_history.c.lead_id == lead_id).order_by(t.lead_history.c.id)
            )).all()
        )

    # --- routing state (fairness) ------------------------------------------------------------
    async def lock_roster(self) -> None:
        """Serialises routing decisions: all fairness state is read and written under this lock."""
        lock = select(t.routing_cursors.c.position).where(t.routing_cursors.c.cursor_key == "__roster__")
        if (await self.conn.execute(lock.with_for_update())).first() is None:
            await self.conn.execute(
                self._insert_ignore(t.routing_cursors).values(cursor_key="__roster__", position=0))
            await self.conn.execute(lock.with_for_update())

    async def rep_loads(self, today: date) -> dict[str, Any]:
        rows = (await self.conn.execute(select(t.rep_loads))).all()
        return {row.rep_id: row for row in rows}

    async def cursors(self) -> dict[str, int]:
        rows = await self.conn.execute(select(t.routing_cursors))
        return {row.cursor_key: row.position for row in rows if row.cursor_key != "__roster__"}

    def _upsert(self, table: Any) -> Any:
        return (postgresql if self.store.dialect == "postgresql" else sqlite).insert(table)

    async def set_cursor(self, key: str, position: int) -> None:
        statement = self._upsert(t.routing_cursors).values(cursor_key=key, position=position)
        await self.conn.execute(statement.on_conflict_do_update(
            index_elements=[t.routing_cursors.c.cursor_key], set_={"position": statement.excluded.position}))

    async def credits(self) -> dict[str, int]:
        rows = await self.conn.execute(
            select(t.fairness_ledger.c.rep_id, func.sum(t.fairness_ledger.c.delta)).group_by(t.fairness_ledger.c.rep_id)
        )
        return {rep: int(total or 0) for rep, total in rows}

    async def ledger(self, rep_id: str) -> list[Any]:
        return list((await self.conn.execute(
            select(t.fairness_ledger).where(t.fairness_ledger.c.rep_id == rep_id).order_by(t.fairness_ledger.c.id)
        )).all())

    async def add_credit(self, rep_id: str, delta: int, reason: str, by: str | None, lead_id: str | None) -> None:
        await self.conn.execute(
            insert(t.fairness_ledger).values(
                rep_id=rep_id, delta=delta, reason=reason, by=by, lead_id=lead_id, at=self.store.clock()
            )
        )

    async def adjust_rep_load(self, rep_id: str, *, today: date, open_delta: int = 0, assigned: int = 0,
                              converted: int = 0, lost: int = 0, at: datetime | None = None) -> None:
        """One upsert: counters move by the deltas; the daily count restarts on a new day."""
        loads = t.rep_loads
        statement = self._upsert(loads).values(
            rep_id=rep_id, open_leads=max(0, open_delta), day=today, assigned_today=assigned,
            assigned_total=assigned, converted_total=converted, lost_total=lost,
            last_assigned_at=(at or self.store.clock()) if assigned else None,
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
        await self.conn.execute(statement.on_conflict_do_update(index_elements=[loads.c.rep_id], set_=changes))

    async def add_decision(self, lead_id: str, decided_at: datetime, policy_version: int, rule: str | None,
                           strategy: str | None, owner: str | None, queue: str | None,
                           explanation: dict[str, Any]) -> None:
        await self.conn.execute(
            insert(t.decisions).values(
                lead_id=lead_id, decided_at=decided_at, policy_version=policy_version, rule=rule,
                strategy=strategy, owner=owner, queue=queue, explanation=explanation,
            )
        )

    async def decisions(self, lead_id: str) -> list[Any]:
        return list(
            (await self.conn.execute(
                select(t.decisions).where(t.decisions.c.lead_id == lead_id).order_by(t.decisions.c.id)
            )).all()
        )

    # --- chat deliveries ---------------------------------------------------------------------
    async def add_delivery(self, **values: Any) -> None:
        now = self.store.clock()
        await self.conn.execute(
            self._insert_ignore(t.deliveries).values(
                state="pending", attempts=0, next_attempt_at=now, created_at=now, **values
            )
        )

    async def due_deliveries(self, now: datetime, limit: int) -> list[Any]:
        query = (
            select(t.deliveries)
            # "sending" rows past their lease belong to a sender that died mid-call.
            .where(t.deliveries.c.state.in_(("pending", "sending")), t.deliveries.c.next_attempt_at <= now)
            .order_by(t.deliveries.c.next_attempt_at, t.deliveries.c.id)
            .limit(limit)
        )
        if self.store.dialect == "postgresql":
            query = query.with_for_update(skip_locked=True)
        return list((await self.conn.execute(query)).all())

    async def update_delivery(self, delivery_id: int, **values: Any) -> None:
        await self.conn.execute(update(t.deliveries).where(t.deliveries.c.id == delivery_id).values(**values))

    async def deliveries_for(self, lead_id: str) -> list[Any]:
        return list(
            (await self.conn.execute(
                select(t.deliveries).where(t.deliveries.c.lead_id == lead_id).order_by(t.deliveries.c.id)
            )).all()
        )

    # --- SLA clocks ----------------------------------------------------------------------------
    async def add_clock(self, timer_id: str, lead_id: str, clock: str, step: str, owner: str | None,
                        due_at: datetime) -> None:
        await self.conn.execute(
            self._insert_ignore(t.sla_clocks).values(
                timer_id=timer_id, lead_id=lead_id, clock=clock, step=step, owner=owner, due_at=due_at,
                state="pending",
            )
        )

    async def add_clocks(self, rows: Sequence[dict[str, Any]]) -> None:
        """Plans many steps in one statement (an assignment starts about seven)."""
        if rows:
            await self.conn.execute(self._insert_ignore(t.sla_clocks), [dict(row, state="pending") for row in rows])

    async def cancel_clocks(self, lead_id: str, clocks: Sequence[str] | None = None) -> int:
        """Cancels pending steps; a step a scheduler holds (row-locked) is waited for, then left fired."""
        query = update(t.sla_clocks).where(t.sla_clocks.c.lead_id == lead_id, t.sla_clocks.c.state == "pending")
        if clocks is not None:
            query = query.where(t.sla_clocks.c.clock.in_(list(clocks)))
        return (await self.conn.execute(query.values(state="cancelled"))).rowcount

    async def transfer_clocks(self, lead_id: str, new_owner: str) -> None:
        """Hands a lead's pending clocks (not its offer) to a new owner, deadlines unchanged."""
        await self.conn.execute(
            update(t.sla_clocks)
            .where(t.sla_clocks.c.lead_id == lead_id, t.sla_clocks.c.state == "pending",
                   t.sla_clocks.c.clock != "offer")
            .values(owner=new_owner))

    async def any_due_clock(self, now: datetime) -> bool:
        return (await self.conn.execute(
            select(t.sla_clocks.c.timer_id).where(t.sla_clocks.c.state == "pending", t.sla_clocks.c.due_at <= now)
            .limit(1))).first() is not None

    async def any_due_delivery(self, now: datetime) -> bool:
        return (await self.conn.execute(
            select(t.deliveries.c.id).where(t.deliveries.c.state.in_(("pending", "sending")),
                                            t.deliveries.c.next_attempt_at <= now).limit(1))).first() is not None

    async def claim_due_clocks(self, now: datetime, limit: int) -> list[Any]:
        query = (
            select(t.sla_clocks)
            .where(t.sla_clocks.c.state == "pending", t.sla_clocks.c.due_at <= now)
            .order_by(t.sla_clocks.c.due_at, t.sla_clocks.c.timer_id)
            .limit(limit)
        )
        if self.store.dialect == "postgresql":
            # Any number of scheduler replicas share due steps; none fires a step twice.
            query = query.with_for_update(skip_locked=True)
        return list((await self.conn.execute(query)).all())


    async def mark_clocks(self, timer_ids: Sequence[str], state: str, at: datetime) -> None:
        if timer_ids:
            await self.conn.execute(update(t.sla_clocks).where(t.sla_clocks.c.timer_id.in_(list(timer_ids)))
                                    .values(state=state, fired_at=at))

    async def clocks_for(self, lead_id: str) -> list[Any]:
        return list((await self.conn.execute(
            select(t.sla_clocks).where(t.sla_clocks.c.lead_id == lead_id).order_by(t.sla_clocks.c.due_at)
        )).all())

    async def clock_stats(self, now: datetime) -> tuple[int, datetime | None]:
        """(open steps, the oldest due-but-unfired step's due time)."""
        pending = t.sla_clocks.c.state == "pending"
        count = (await self.conn.execute(select(func.count()).select_from(t.sla_clocks).where(pending))).scalar_one()
        oldest = (await self.conn.execute(
            select(func.min(t.sla_clocks.c.due_at)).where(pending, t.sla_clocks.c.due_at <= now))).scalar_one()
        return count, as_utc(oldest)

    async def count_assignments(self, lead_id: str) -> int:
        return (await self.conn.execute(
            select(func.count()).select_from(t.decisions).where(t.decisions.c.lead_id == lead_id))).scalar_one()

    # --- the team pool -------------------------------------------------------------------------
    async def add_claim(self, rep_id: str, lead_id: str, at: datetime) -> None:
        await self.conn.execute(insert(t.pool_claims).values(rep_id=rep_id, lead_id=lead_id, at=at))

    async def claims_since(self, rep_id: str, since: datetime) -> list[datetime]:
        rows = await self.conn.execute(
            select(t.pool_claims.c.at).where(t.pool_claims.c.rep_id == rep_id, t.pool_claims.c.at >= since)
            .order_by(t.pool_claims.c.at))
        return [as_utc(row.at) for row in rows]

    # --- dead letters ------------------------------------------------------------------------
    async def list_dead_letters(self, include_redriven: bool = False) -> list[Any]:
        query = select(t.dead_letters).order_by(t.dead_letters.c.id)
        if not include_redriven:
            query = query.where(t.dead_letters.c.redriven_at.is_(None))
        return list((await self.conn.execute(query)).all())

    async def mark_redriven(self, dead_letter_id: int) -> None:
        await self.conn.execute(
            update(t.dead_letters).where(t.dead_letters.c.id == dead_letter_id).values(redriven_at=self.store.clock())
        )

    async def forget_processed(self, consumer: str, event_id: str) -> None:
        await self.conn.execute(
            delete(t.processed_events).where(
                t.processed_events.c.consumer == consumer, t.processed_events.c.event_id == event_id
            )
        )
