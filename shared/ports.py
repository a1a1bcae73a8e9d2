"""The ports the services depend on. Adapters implement them; services never import an adapter."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from leadrelay.shared.events import Envelope
    from leadrelay.shared.policy import Policy


class RetryLater(Exception):
    """The event is fine but cannot be handled yet (e.g. no policy applied): wait, never dead-letter."""


class BusUnavailable(Exception):
    """The event log could not durably store an event; the caller must not claim it did."""


class StoreUnavailable(Exception):
    """The database is unreachable (down, restarting, connection lost), as opposed to a problem
    with what was asked of it. Callers wait and retry (consumers) or answer 503 (HTTP); the
    store adapter translates its driver's errors into this, so nothing above it knows a driver."""


@dataclass(frozen=True)
class Delivery:
    """One message handed to a consumer. ``position`` is what committing it means to the bus."""

    topic: str
    key: str
    payload: bytes
    partition: int
    offset: int


class Subscription(Protocol):
    async def poll(self, max_records: int = 100, timeout_s: float = 1.0) -> list[Delivery]:
        """Returns the next deliveries for this group (possibly none after ``timeout_s``)."""

    async def commit(self, deliveries: Sequence[Delivery]) -> None:
        """Marks these deliveries consumed. Call only after their effects are committed."""

    async def close(self) -> None: ...


class Bus(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def publish(self, envelope: Envelope) -> None:
        """Returns once the log has durably stored the event; raises BusUnavailable otherwise.

        Publishing an event id twice is harmless: consumers dedup on the id."""

    def subscribe(self, group: str, topics: Sequence[str]) -> Subscription:
        """A consumer-group subscription; each delivery goes to one member of the group."""


class UnitOfWork(Protocol):
    """One database transaction: a handler's effects, its outgoing events (the outbox) and the
    record that it consumed its event commit together or not at all. Repositories are methods,
    grouped by concept; the SQL adapter implements them for SQLite and PostgreSQL alike."""

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Runs ``callback`` only if and after this transaction commits (metrics, wake-ups)."""
        ...

    async def emit(self, envelope: Envelope) -> None:
        ...

    async def emit_raw(self, topic: str, key: str, payload: bytes, event_id: str) -> None:
        ...

    async def append_if_new(self, topic: str, key: str, payload: bytes, event_id: str) -> bool:
        """Appends to the outbox unless an event with this id is there already (a retried publish)."""
        ...

    async def mark_processed(self, consumer: str, event_id: str) -> bool:
        """Returns False when this consumer already handled the event (a redelivery)."""
        ...

    async def dead_letter(self, consumer: str, topic: str, event_id: str | None, payload: bytes, error: str) -> None:
        ...

    async def current_policy(self) -> tuple[int, Policy] | None:
        """The newest version; the document is read (and parsed) once per version per process."""
        ...

    async def policy(self, version: int) -> Policy:
        ...

    async def policy_document(self, version: int | None = None) -> tuple[int, str] | None:
        ...

    async def store_policy(self, document: str, created_by: str | None = None) -> tuple[int, bool]:
        """Stores the document as a new version unless it equals the current one.

        Returns (version, created)."""
        ...

    async def add_source(self, name: str, kind: str, key_hash: str, key_prefix: str, config: dict[str, Any]) -> None:
        ...

    async def source_by_name(self, name: str) -> Any:
        ...

    async def source_by_key_hash(self, key_hash: str) -> Any:
        ...

    async def list_sources(self) -> list[Any]:
        ...

    async def revoke_source(self, name: str) -> bool:
        """Refuses the source's key from now on. Returns False when no active source has the name."""
        ...

    async def rotate_source_key(self, name: str, key_hash: str, key_prefix: str) -> bool:
        """Gives an active source a new key; the old one stops working when this commits.
        Returns False when no active source has the name."""
        ...

    async def reuse_source(self, name: str, kind: str, key_hash: str, key_prefix: str, config: dict[str, Any]
                           ) -> bool:
        """Makes a revoked source's name a new, active source (its leads keep the name).
        Returns False when no revoked source has the name."""
        ...

    async def add_token(self, token_hash: str, key_prefix: str, role: str, rep_id: str | None) -> None:
        ...

    async def token_by_hash(self, token_hash: str) -> Any:
        """The active (not revoked) token with this hash, or None."""
        ...

    async def list_tokens(self) -> list[Any]:
        """Every token, revoked ones too, oldest first: hash, prefix, role, rep, created, revoked."""
        ...

    async def revoke_token(self, token_hash: str) -> bool:
        """Refuses the token from now on. Returns False when it is unknown or revoked already."""
        ...

    async def idempotency_record(self, source: str, key: str) -> Any:
        ...

    async def remember_idempotency(self, source: str, key: str, body_hash: str, lead_id: str) -> bool:
        """Reserves the key; returns False when it was reserved before (a retry or a reuse)."""
        ...

    async def person_ids_for_keys(self, keys: Sequence[str]) -> list[str]:
        ...

    async def person(self, person_id: str, *, lock: bool = False) -> Any:
        ...

    async def save_person(self, person_id: str, data: dict[str, Any], owner: str | None, lead_count: int,
                          first_seen_at: datetime, last_seen_at: datetime, keys: Sequence[str], *, new: bool) -> None:
        ...

    async def set_person_owner(self, person_id: str, owner: str | None) -> None:
        ...

    async def insert_lead(self, **values: Any) -> None:
        ...

    async def update_lead(self, lead_id: str, **values: Any) -> None:
        ...

    async def lead(self, lead_id: str, *, lock: bool = False) -> Any:
        ...

    async def leads_where(self, *, owner: str | None = None, owners: Sequence[str] | None = None,
                          source: str | None = None, state: str | None = None, queue: str | None = None,
                          limit: int = 100) -> list[Any]:
        ...

    async def add_history(self, lead_id: str, kind: str, detail: dict[str, Any], at: datetime | None = None) -> None:
        ...

    async def history(self, lead_id: str) -> list[Any]:
        ...

    async def lock_roster(self) -> None:
        """Serialises routing decisions: all fairness state is read and written under this lock."""
        ...

    async def rep_loads(self, today: date) -> dict[str, Any]:
        ...

    async def cursors(self) -> dict[str, int]:
        ...

    async def set_cursor(self, key: str, position: int) -> None:
        ...

    async def credits(self) -> dict[str, int]:
        ...

    async def ledger(self, rep_id: str) -> list[Any]:
        ...

    async def add_credit(self, rep_id: str, delta: int, reason: str, by: str | None, lead_id: str | None) -> None:
        ...

    async def adjust_rep_load(self, rep_id: str, *, today: date, open_delta: int = 0, assigned: int = 0,
                              converted: int = 0, lost: int = 0, at: datetime | None = None) -> None:
        ...

    async def add_decision(self, lead_id: str, decided_at: datetime, policy_version: int, rule: str | None,
                           strategy: str | None, owner: str | None, queue: str | None,
                           explanation: dict[str, Any]) -> None:
        ...

    async def decisions(self, lead_id: str) -> list[Any]:
        ...

    async def add_delivery(self, **values: Any) -> None:
        ...

    async def due_deliveries(self, now: datetime, limit: int) -> list[Any]:
        ...

    async def update_delivery(self, delivery_id: int, **values: Any) -> None:
        ...

    async def deliveries_for(self, lead_id: str) -> list[Any]:
        ...

    async def add_clock(self, timer_id: str, lead_id: str, clock: str, step: str, owner: str | None,
                        due_at: datetime) -> None:
        ...

    async def emit_many(self, envelopes: Sequence[Envelope]) -> None: ...

    async def add_history_many(self, rows: Sequence[dict[str, Any]]) -> None: ...

    async def leads_by_id(self, lead_ids: Sequence[str], *, lock: bool = False) -> dict[str, Any]:
        """Rows by id; with ``lock``, locked in id order (no deadlock between schedulers)."""
        ...

    async def mark_clocks(self, timer_ids: Sequence[str], state: str, at: datetime) -> None: ...

    async def add_clocks(self, rows: Sequence[dict[str, Any]]) -> None:
        """Plans many steps in one statement (an assignment starts about seven)."""
        ...

    async def cancel_clocks(self, lead_id: str, clocks: Sequence[str] | None = None) -> int:
        """Cancels pending steps; a step a scheduler holds (row-locked) is waited for, then left fired."""
        ...

    async def transfer_clocks(self, lead_id: str, new_owner: str) -> None:
        """Hands a lead's pending clocks (not its offer) to a new owner, deadlines unchanged."""
        ...

    async def any_due_clock(self, now: datetime) -> bool:
        ...

    async def any_due_delivery(self, now: datetime) -> bool:
        ...

    async def claim_due_clocks(self, now: datetime, limit: int) -> list[Any]:
        ...


    async def clocks_for(self, lead_id: str) -> list[Any]:
        ...

    async def clock_stats(self, now: datetime) -> tuple[int, datetime | None]:
        """(open steps, the oldest due-but-unfired step's due time)."""
        ...

    async def count_assignments(self, lead_id: str) -> int:
        ...

    async def add_claim(self, rep_id: str, lead_id: str, at: datetime) -> None:
        ...

    async def claims_since(self, rep_id: str, since: datetime) -> list[datetime]:
        ...

    async def list_dead_letters(self, include_redriven: bool = False) -> list[Any]:
        ...

    async def mark_redriven(self, dead_letter_id: int) -> None:
        ...

    async def forget_processed(self, consumer: str, event_id: str) -> None:
        ...


class Store(Protocol):
    """Hands out units of work: ``transaction()`` for writes, ``read()`` for queries."""

    url: str

    def transaction(self) -> AbstractAsyncContextManager[UnitOfWork]:
        """Commits when the block ends without an exception; rolls back otherwise."""
        ...

    def read(self) -> AbstractAsyncContextManager[UnitOfWork]: ...

    async def dispose(self) -> None: ...
