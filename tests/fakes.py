"""In-memory implementations of every store port, for handler tests that run in microseconds.

``MemoryStore`` is the ``Store`` port over plain Python containers, with one in-memory repository
per port in ``shared/ports``. It is the ``memory`` backend of the store contract suite
(``tests/contract/store``), which runs the same assertions against it, SQLite and PostgreSQL: a
handler test over this fake therefore proves what it would prove over a real store.

What it keeps of a database, because handlers depend on it:

- A unit of work is a transaction. ``transaction()`` works on a copy of the tables and swaps it
  in when the block ends; an exception discards the copy (nothing half-stored) and propagates;
  ``after_commit`` callbacks run only after a commit. Writers take turns, one transaction at a
  time (SQLite's single writer), so ``roster.lock()`` and ``claim_due`` wait for nothing (the
  lock still makes missing rows and checks the lock order, see ``MemoryRoster.lock``).
  ``read()`` works on a throwaway copy of what is committed: what it writes is never kept.
- Values go in and come out the way the SQL columns carry them: times as aware UTC (naive ones
  are taken as UTC), JSON columns through ``json`` (a tuple comes back a list, a value JSON can't
  hold is refused), payloads as ``bytes``. Records handed out are copies.
- Keys: a second row with a taken unique key raises :class:`ConstraintViolation` (where SQL
  raises IntegrityError); the repositories that promise insert-ignore (``append_if_new``,
  ``mark_processed``, ``remember``, ``deliveries.add``, ``clocks.add_many``, person keys) ignore it.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import json
from collections.abc import AsyncIterator, Callable, Collection, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime, timedelta
from typing import Any, TypeVar, Unpack

from leadrelay.shared.clock import Clock, as_utc, system_clock
from leadrelay.shared.erasure import event_tombstone, is_erased, is_event_tombstone, scrubbed, tombstone_contact
from leadrelay.shared.events import Envelope
from leadrelay.shared.policy import Policy, load_policy
from leadrelay.shared.ports import (
    ClockRecord,
    ConsoleSessionRecord,
    DeadLetterRecord,
    DecisionRecord,
    DeliveryChanges,
    DeliveryRecord,
    DuplicatePair,
    HistoryEntry,
    HistoryRow,
    IdempotencyRecord,
    LeadChanges,
    LeadJourney,
    LeadRecord,
    LedgerEntry,
    Milestone,
    NewDelivery,
    NewLead,
    PersonMerge,
    PlannedStep,
    PolicyVersionRecord,
    RepLoadRecord,
    SourceRecord,
    StoredPerson,
    StoreUnavailable,
    SubscriptionRecord,
    TokenRecord,
    WebhookDeliveryRecord,
)
from leadrelay.shared.ports.crm_links import CrmLinkRecord
from leadrelay.shared.ports.reports import FUNNEL_MILESTONES
from leadrelay.shared.ports.webhooks import NewSubscription, NewWebhookDelivery, WebhookDeliveryChanges

Record = TypeVar("Record")

# What the SQL adapter keeps of a dead letter's error (the column is TEXT, the adapter cuts it).
DEAD_LETTER_ERROR_CHARS = 4000
# What the SQL adapter keeps of a spent nonce past its expiry (shared/adapters/sql/access.py).
NONCE_GRACE = timedelta(hours=1)
# Deliveries a sender may (re)take: "sending" past its lease means a sender died mid-call.
WAITING_DELIVERIES = ("pending", "sending")


class ConstraintViolation(Exception):
    """A write a database would refuse: a taken unique key, a missing NOT NULL value. The SQL
    stores raise SQLAlchemy's IntegrityError here."""


def _json(value: Any) -> Any:
    """A JSON column's round trip: what a handler reads back is what JSON can carry."""
    return None if value is None else json.loads(json.dumps(value))


def _utc(value: datetime | None) -> datetime | None:
    return as_utc(value)


def _out(value: Record) -> Record:
    """A copy, so a caller changing a returned record's dict never changes what is stored."""
    return copy.deepcopy(value)


@dataclass(frozen=True)
class OutboxRow:
    """An event the outbox holds, in the order it was written (``seq``)."""

    seq: int
    event_id: str
    topic: str
    key: str
    payload: bytes
    created_at: datetime

    def envelope(self) -> Envelope:
        return Envelope.from_bytes(self.payload)


@dataclass(frozen=True)
class PolicyRow:
    version: int
    document: str
    digest: str
    created_at: datetime
    created_by: str | None


@dataclass(frozen=True)
class ClaimRow:
    rep_id: str
    lead_id: str
    at: datetime


@dataclass
class Tables:
    """Everything a MemoryStore holds. Stored records are never changed in place (they are
    replaced), so a shallow copy of each container is a snapshot."""

    sequences: dict[str, int] = field(default_factory=dict)
    outbox: list[OutboxRow] = field(default_factory=list)
    processed: dict[tuple[str, str], datetime] = field(default_factory=dict)
    dead_letters: dict[int, DeadLetterRecord] = field(default_factory=dict)
    sources: dict[str, SourceRecord] = field(default_factory=dict)
    tokens: dict[str, TokenRecord] = field(default_factory=dict)
    spent_nonces: dict[str, datetime] = field(default_factory=dict)  # nonce -> the credential's expiry
    idempotency: dict[tuple[str, str], IdempotencyRecord] = field(default_factory=dict)
    policies: dict[int, PolicyRow] = field(default_factory=dict)
    persons: dict[str, StoredPerson] = field(default_factory=dict)
    person_keys: dict[str, str] = field(default_factory=dict)
    match_keys: dict[tuple[str, str], datetime] = field(default_factory=dict)  # (match key, person) -> seen
    merges: dict[str, PersonMerge] = field(default_factory=dict)
    pairs: dict[str, DuplicatePair] = field(default_factory=dict)
    leads: dict[str, LeadRecord] = field(default_factory=dict)
    history: list[HistoryEntry] = field(default_factory=list)
    decisions: list[DecisionRecord] = field(default_factory=list)
    loads: dict[str, RepLoadRecord] = field(default_factory=dict)
    cursors: dict[str, int] = field(default_factory=dict)
    ledger: list[LedgerEntry] = field(default_factory=list)
    claims: list[ClaimRow] = field(default_factory=list)
    deliveries: dict[int, DeliveryRecord] = field(default_factory=dict)
    clocks: dict[str, ClockRecord] = field(default_factory=dict)
    subscriptions: dict[str, SubscriptionRecord] = field(default_factory=dict)
    webhook_deliveries: dict[int, WebhookDeliveryRecord] = field(default_factory=dict)
    console_sessions: dict[str, ConsoleSessionRecord] = field(default_factory=dict)
    crm_links: dict[tuple[str, str], CrmLinkRecord] = field(default_factory=dict)

    def snapshot(self) -> Tables:
        return Tables(**{f.name: copy.copy(getattr(self, f.name)) for f in fields(self)})

    def next_id(self, table: str) -> int:
        """An auto-increment id: unique and increasing within the table."""
        self.sequences[table] = self.sequences.get(table, 0) + 1
        return self.sequences[table]


class _Repository:
    def __init__(self, uow: MemoryUnitOfWork) -> None:
        self.db = uow.tables
        self.clock = uow.clock


class MemoryOutbox(_Repository):
    async def emit(self, envelope: Envelope) -> None:
        await self.emit_raw(envelope.topic, envelope.key, envelope.to_bytes(), envelope.id)

    async def emit_many(self, envelopes: Sequence[Envelope]) -> None:
        ids = [e.id for e in envelopes]
        if len(set(ids)) != len(ids) or any(self._has(event_id) for event_id in ids):
            raise ConstraintViolation("outbox: an event id is there already")
        for envelope in envelopes:
            self._append(envelope.topic, envelope.key, envelope.to_bytes(), envelope.id)

    async def emit_raw(self, topic: str, key: str, payload: bytes, event_id: str) -> None:
        if self._has(event_id):
            raise ConstraintViolation(f"outbox: event {event_id} is there already")
        self._append(topic, key, payload, event_id)

    async def append_if_new(self, topic: str, key: str, payload: bytes, event_id: str) -> bool:
        if self._has(event_id):
            return False
        self._append(topic, key, payload, event_id)
        return True

    def _has(self, event_id: str) -> bool:
        return any(row.event_id == event_id for row in self.db.outbox)

    def _append(self, topic: str, key: str, payload: bytes, event_id: str) -> None:
        self.db.outbox.append(OutboxRow(self.db.next_id("outbox"), event_id, topic, key, bytes(payload), self.clock()))


class MemoryInbox(_Repository):
    async def mark_processed(self, consumer: str, event_id: str) -> bool:
        if (consumer, event_id) in self.db.processed:
            return False
        self.db.processed[(consumer, event_id)] = self.clock()
        return True

    async def mark_processed_many(self, consumer: str, event_ids: Sequence[str]) -> set[str]:
        return {event_id for event_id in dict.fromkeys(event_ids) if await self.mark_processed(consumer, event_id)}

    async def forget(self, consumer: str, event_id: str) -> None:
        self.db.processed.pop((consumer, event_id), None)

    async def dead_letter(self, consumer: str, topic: str, event_id: str | None, payload: bytes, error: str) -> None:
        dead_id = self.db.next_id("dead_letters")
        self.db.dead_letters[dead_id] = DeadLetterRecord(
            id=dead_id, consumer=consumer, topic=topic, event_id=event_id, payload=bytes(payload),
            error=error[:DEAD_LETTER_ERROR_CHARS], created_at=self.clock(), redriven_at=None)

    async def dead_letters(self, include_redriven: bool = False) -> list[DeadLetterRecord]:
        return [_out(row) for _, row in sorted(self.db.dead_letters.items())
                if include_redriven or row.redriven_at is None]

    async def mark_redriven(self, dead_letter_id: int) -> None:
        if (row := self.db.dead_letters.get(dead_letter_id)) is not None:
            self.db.dead_letters[dead_letter_id] = replace(row, redriven_at=self.clock())


class MemoryPolicies(_Repository):
    def __init__(self, uow: MemoryUnitOfWork) -> None:
        super().__init__(uow)
        self.parsed = uow.store.parsed_policies

    async def current(self) -> tuple[int, Policy] | None:
        if not self.db.policies:
            return None
        version = max(self.db.policies)
        return version, await self.get(version)

    async def get(self, version: int) -> Policy:
        row = self.db.policies.get(version)
        if row is None:
            raise LookupError(f"no policy version {version}")
        # Parsed once per document per store, keyed by what was parsed (not by the version
        # number, which a rolled-back transaction may have used for another document).
        if row.digest not in self.parsed:
            self.parsed[row.digest] = load_policy(row.document)
        return self.parsed[row.digest]

    async def document(self, version: int | None = None) -> tuple[int, str] | None:
        if version is None:
            version = max(self.db.policies, default=None)
        row = self.db.policies.get(version) if version is not None else None
        return (row.version, row.document) if row is not None else None

    async def store(self, document: str, created_by: str | None = None) -> tuple[int, bool]:
        digest = hashlib.sha256(document.encode()).hexdigest()
        newest = self.db.policies[max(self.db.policies)] if self.db.policies else None
        if newest is not None and newest.digest == digest:
            return newest.version, False
        version = newest.version + 1 if newest is not None else 1
        self.db.policies[version] = PolicyRow(version, document, digest, self.clock(), created_by)
        return version, True

    async def versions(self, limit: int = 100) -> list[PolicyVersionRecord]:
        return [PolicyVersionRecord(row.version, row.digest, row.created_at, row.created_by)
                for _, row in sorted(self.db.policies.items(), reverse=True)[:limit]]


class MemorySources(_Repository):
    async def add(self, name: str, kind: str, key_hash: str, key_prefix: str, config: dict[str, Any]) -> None:
        if name in self.db.sources:
            raise ConstraintViolation(f"sources: {name} is there already")
        self._key_is_free(key_hash)
        self.db.sources[name] = SourceRecord(name=name, kind=kind, key_hash=key_hash, key_prefix=key_prefix,
                                             config=_json(config), created_at=self.clock(), revoked_at=None)

    async def by_name(self, name: str) -> SourceRecord | None:
        return _out(self.db.sources.get(name))

    async def by_key_hash(self, key_hash: str) -> SourceRecord | None:
        found = [s for s in self.db.sources.values() if s.key_hash == key_hash and s.revoked_at is None]
        return _out(found[0]) if found else None

    async def list(self) -> list[SourceRecord]:
        return [_out(self.db.sources[name]) for name in sorted(self.db.sources)]

    async def revoke(self, name: str) -> bool:
        if (source := self._active(name)) is None:
            return False
        self.db.sources[name] = replace(source, revoked_at=self.clock())
        return True

    async def rotate_key(self, name: str, key_hash: str, key_prefix: str) -> bool:
        if (source := self._active(name)) is None:
            return False
        self._key_is_free(key_hash, besides=name)
        self.db.sources[name] = replace(source, key_hash=key_hash, key_prefix=key_prefix)
        return True

    async def reuse(self, name: str, kind: str, key_hash: str, key_prefix: str, config: dict[str, Any]) -> bool:
        source = self.db.sources.get(name)
        if source is None or source.revoked_at is None:
            return False
        self._key_is_free(key_hash, besides=name)
        self.db.sources[name] = replace(source, kind=kind, key_hash=key_hash, key_prefix=key_prefix,
                                        config=_json(config), created_at=self.clock(), revoked_at=None)
        return True

    def _active(self, name: str) -> SourceRecord | None:
        source = self.db.sources.get(name)
        return source if source is not None and source.revoked_at is None else None

    def _key_is_free(self, key_hash: str, besides: str | None = None) -> None:
        if any(s.key_hash == key_hash and s.name != besides for s in self.db.sources.values()):
            raise ConstraintViolation("sources: the key hash is taken")


class MemoryTokens(_Repository):
    async def add(self, token_hash: str, key_prefix: str, role: str, rep_id: str | None) -> None:
        if token_hash in self.db.tokens:
            raise ConstraintViolation("tokens: the hash is there already")
        self.db.tokens[token_hash] = TokenRecord(token_hash=token_hash, key_prefix=key_prefix, role=role,
                                                 rep_id=rep_id, created_at=self.clock(), revoked_at=None)

    async def by_hash(self, token_hash: str) -> TokenRecord | None:
        token = self.db.tokens.get(token_hash)
        return _out(token) if token is not None and token.revoked_at is None else None

    async def list(self) -> list[TokenRecord]:
        return [_out(t) for t in sorted(self.db.tokens.values(), key=lambda t: (t.created_at, t.key_prefix))]

    async def revoke(self, token_hash: str) -> bool:
        token = self.db.tokens.get(token_hash)
        if token is None or token.revoked_at is not None:
            return False
        self.db.tokens[token_hash] = replace(token, revoked_at=self.clock())
        return True

    async def spend_nonce(self, nonce: str, expires_at: datetime) -> bool:
        grace_until = self.clock() - NONCE_GRACE
        for spent, expiry in list(self.db.spent_nonces.items()):
            if expiry < grace_until:
                del self.db.spent_nonces[spent]
        if nonce in self.db.spent_nonces:
            return False
        self.db.spent_nonces[nonce] = _utc(expires_at)  # type: ignore[assignment]
        return True

    async def unspend_nonce(self, nonce: str) -> None:
        self.db.spent_nonces.pop(nonce, None)

    async def nonce_spent(self, nonce: str) -> bool:
        return nonce in self.db.spent_nonces


class MemoryConsoleSessions(_Repository):
    async def add(self, session_hash: str, token_hash: str, lang: str | None) -> None:
        if session_hash in self.db.console_sessions:
            raise ConstraintViolation("console_sessions: the hash is there already")
        now = self.clock()
        self.db.console_sessions[session_hash] = ConsoleSessionRecord(
            session_hash=session_hash, token_hash=token_hash, lang=lang, created_at=now, last_seen_at=now)

    async def get(self, session_hash: str) -> ConsoleSessionRecord | None:
        found = self.db.console_sessions.get(session_hash)
        return None if found is None else _out(found)

    async def touch(self, session_hash: str) -> None:
        found = self.db.console_sessions.get(session_hash)
        if found is not None:
            self.db.console_sessions[session_hash] = replace(found, last_seen_at=self.clock())

    async def set_lang(self, session_hash: str, lang: str | None) -> None:
        found = self.db.console_sessions.get(session_hash)
        if found is not None:
            self.db.console_sessions[session_hash] = replace(found, lang=lang)

    async def delete(self, session_hash: str) -> bool:
        return self.db.console_sessions.pop(session_hash, None) is not None

    async def forget_older(self, created_before: datetime, seen_before: datetime) -> int:
        old = [h for h, s in self.db.console_sessions.items()
               if s.created_at < _utc(created_before) or s.last_seen_at < _utc(seen_before)]  # type: ignore[operator]
        for session_hash in old:
            del self.db.console_sessions[session_hash]
        return len(old)


class MemoryCrmLinks(_Repository):
    async def link(self, crm: str, record_id: str, lead_id: str) -> None:
        self.db.crm_links[(crm, record_id)] = CrmLinkRecord(crm, record_id, lead_id, self.clock())

    async def get(self, crm: str, record_id: str) -> CrmLinkRecord | None:
        return _out(self.db.crm_links.get((crm, record_id)))


class MemoryIdempotency(_Repository):
    async def get(self, source: str, key: str) -> IdempotencyRecord | None:
        return _out(self.db.idempotency.get((source, key)))

    async def remember(self, source: str, key: str, body_hash: str, lead_id: str) -> bool:
        if (source, key) in self.db.idempotency:
            return False
        self.db.idempotency[(source, key)] = IdempotencyRecord(source=source, key=key, body_hash=body_hash,
                                                               lead_id=lead_id, created_at=self.clock())
        return True

    async def answered(self, source: str, key: str, body_hash: str) -> bool:
        found = self.db.idempotency.get((source, key))
        if found is None or found.body_hash != body_hash:
            return False
        self.db.idempotency[(source, key)] = replace(found, answered_at=found.answered_at or self.clock())
        return True

    async def forget(self, source: str, key: str, body_hash: str) -> bool:
        found = self.db.idempotency.get((source, key))
        if found is None or found.body_hash != body_hash or found.answered_at is not None:
            return False
        del self.db.idempotency[(source, key)]
        return True


class MemoryPeople(_Repository):
    async def ids_for_keys(self, keys: Sequence[str]) -> list[str]:
        return sorted({self.db.person_keys[key] for key in keys if key in self.db.person_keys})

    async def get(self, person_id: str, *, lock: bool = False) -> StoredPerson | None:
        return _out(self.db.persons.get(person_id))

    async def save(self, person_id: str, data: dict[str, Any], owner: str | None, lead_count: int,
                   first_seen_at: datetime, last_seen_at: datetime, keys: Sequence[str], *, new: bool) -> None:
        person = StoredPerson(person_id=person_id, data=_json(data), owner=owner, lead_count=lead_count,
                              first_seen_at=_utc(first_seen_at), last_seen_at=_utc(last_seen_at))  # type: ignore[arg-type]
        if new:
            if person_id in self.db.persons:
                raise ConstraintViolation(f"persons: {person_id} is there already")
            self.db.persons[person_id] = person
        elif person_id in self.db.persons:  # an UPDATE: an unknown id changes nothing
            self.db.persons[person_id] = person
        for key in keys:  # a key already linked stays with the person it was linked to first
            self.db.person_keys.setdefault(key, person_id)

    async def set_owner(self, person_id: str, owner: str | None) -> None:
        if (person := self.db.persons.get(person_id)) is not None:
            self.db.persons[person_id] = replace(person, owner=owner)

    async def keys_of(self, person_id: str) -> list[str]:
        return sorted(key for key, owner in self.db.person_keys.items() if owner == person_id)

    async def get_many(self, person_ids: Sequence[str]) -> dict[str, StoredPerson]:
        return {pid: self.db.persons[pid] for pid in person_ids if pid in self.db.persons}

    async def keys_of_many(self, person_ids: Sequence[str]) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for key, owner in self.db.person_keys.items():
            if owner in person_ids:
                found.setdefault(owner, []).append(key)
        return {pid: sorted(keys) for pid, keys in found.items()}

    async def move_keys(self, keys: Sequence[str], to_person_id: str) -> None:
        for key in keys:
            if key in self.db.person_keys:
                self.db.person_keys[key] = to_person_id

    async def delete(self, person_id: str) -> None:
        self.db.persons.pop(person_id, None)


class MemoryMatches(_Repository):
    async def candidates(self, match_keys: Sequence[str], per_key: int) -> list[str]:
        found: list[str] = []
        for key in match_keys:
            people = sorted(((seen, person) for (k, person), seen in self.db.match_keys.items() if k == key),
                            key=lambda item: (-item[0].timestamp(), item[1]))
            found += [person for _, person in people[:per_key] if person not in found]
        return found

    async def link(self, person_id: str, match_keys: Sequence[str], seen_at: datetime) -> None:
        for key in match_keys:
            self.db.match_keys[(key, person_id)] = _utc(seen_at)

    async def unlink(self, person_id: str) -> None:
        for key in [k for k in self.db.match_keys if k[1] == person_id]:
            del self.db.match_keys[key]

    async def record_merge(self, merge: PersonMerge) -> None:
        if merge.merge_id in self.db.merges:
            raise ConstraintViolation(f"person_merges: {merge.merge_id} is there already")
        self.db.merges[merge.merge_id] = replace(merge, merged_at=_utc(merge.merged_at),
                                                 person_before=_json(merge.person_before))

    async def merge(self, merge_id: str) -> PersonMerge | None:
        return self.db.merges.get(merge_id)

    async def merges(self, limit: int = 100) -> list[PersonMerge]:
        return sorted(self.db.merges.values(), key=lambda m: (-m.merged_at.timestamp(), m.merge_id))[:limit]

    async def mark_undone(self, merge_id: str, at: datetime, by: str) -> bool:
        merge = self.db.merges.get(merge_id)
        if merge is None or merge.undone_at is not None:
            return False
        self.db.merges[merge_id] = replace(merge, undone_at=_utc(at), undone_by=by)
        return True

    async def add_pair(self, pair: DuplicatePair) -> None:
        if pair.pair_id in self.db.pairs:
            raise ConstraintViolation(f"duplicate_pairs: {pair.pair_id} is there already")
        self.db.pairs[pair.pair_id] = replace(pair, created_at=_utc(pair.created_at))

    async def pair(self, pair_id: str) -> DuplicatePair | None:
        return self.db.pairs.get(pair_id)

    async def pairs(self, state: str | None = "open", limit: int = 100) -> list[DuplicatePair]:
        chosen = [p for p in self.db.pairs.values() if state is None or p.state == state]
        return sorted(chosen, key=lambda p: (-p.created_at.timestamp(), p.pair_id))[:limit]

    async def decide(self, pair_id: str, state: str, at: datetime, by: str) -> bool:
        pair = self.db.pairs.get(pair_id)
        if pair is None or pair.state != "open":
            return False
        self.db.pairs[pair_id] = replace(pair, state=state, decided_at=_utc(at), decided_by=by)
        return True

    async def kept_apart(self, person_id: str, other_person_id: str) -> bool:
        return any(p.state == "kept_apart" and {p.person_id, p.other_person_id} == {person_id, other_person_id}
                   for p in self.db.pairs.values())


_LEAD_FIELDS = {f.name for f in fields(LeadRecord)}
_LEAD_REQUIRED = ("lead_id", "source", "identity_key", "correlation_id", "received_at", "contact", "state")
_LEAD_CHANGES = set(LeadChanges.__annotations__)
_LEAD_JSON = ("contact", "reasons")


def _lead_values(values: dict[str, Any], allowed: set[str]) -> dict[str, Any]:
    unknown = set(values) - allowed
    if unknown:
        raise TypeError(f"leads: no column {sorted(unknown)}")  # SQL refuses unconsumed columns too
    out = {}
    for name, value in values.items():
        if isinstance(value, datetime):
            value = _utc(value)
        elif name in _LEAD_JSON:
            value = _json(value)
        out[name] = value
    for name in _LEAD_REQUIRED:
        if name in out and out[name] is None:
            raise ConstraintViolation(f"leads: {name} may not be null")
    return out


class MemoryLeads(_Repository):
    async def insert(self, **lead: Unpack[NewLead]) -> None:
        values = _lead_values(dict(lead), _LEAD_FIELDS - {"updated_at"})
        missing = [name for name in _LEAD_REQUIRED if name not in values]
        if missing:
            raise ConstraintViolation(f"leads: {missing} may not be null")
        if values["lead_id"] in self.db.leads:
            raise ConstraintViolation(f"leads: {values['lead_id']} is there already")
        row = dict.fromkeys(_LEAD_FIELDS)
        row.update(values, updated_at=self.clock())
        self.db.leads[values["lead_id"]] = LeadRecord(**row)

    async def update(self, lead_id: str, **changes: Unpack[LeadChanges]) -> None:
        values = _lead_values(dict(changes), _LEAD_CHANGES)
        if (lead := self.db.leads.get(lead_id)) is not None:
            self.db.leads[lead_id] = replace(lead, **values, updated_at=self.clock())

    async def get(self, lead_id: str, *, lock: bool = False) -> LeadRecord | None:
        return _out(self.db.leads.get(lead_id))

    async def by_ids(self, lead_ids: Sequence[str], *, lock: bool = False) -> dict[str, LeadRecord]:
        return {lead_id: _out(self.db.leads[lead_id]) for lead_id in sorted(set(lead_ids)) if lead_id in self.db.leads}

    async def where(self, *, owner: str | None = None, owners: Sequence[str] | None = None,
                    source: str | None = None, state: str | None = None, queue: str | None = None,
                    teams: Sequence[str | None] | None = None, limit: int = 100) -> list[LeadRecord]:
        def wanted(lead: LeadRecord) -> bool:
            return ((owner is None or lead.owner == owner) and (owners is None or lead.owner in owners)
                    and (source is None or lead.source == source) and (state is None or lead.state == state)
                    and (queue is None or lead.queue == queue) and (teams is None or lead.team in teams))

        found = sorted(filter(wanted, self.db.leads.values()), key=lambda lead: lead.received_at, reverse=True)
        return [_out(lead) for lead in found[:limit]]

    async def received_between(self, start: datetime, end: datetime, limit: int) -> list[LeadRecord]:
        start, end = _utc(start), _utc(end)
        found = sorted((lead for lead in self.db.leads.values()
                        if start <= lead.received_at < end),  # type: ignore[operator]
                       key=lambda lead: (lead.received_at, lead.lead_id))
        return [_out(lead) for lead in found[:limit]]

    async def of_persons(self, person_ids: Sequence[str], limit: int = 100) -> list[LeadRecord]:
        wanted = set(person_ids)
        found = sorted((lead for lead in self.db.leads.values() if lead.person_id in wanted),
                       key=lambda lead: (-lead.received_at.timestamp(), lead.lead_id))
        return [_out(lead) for lead in found[:limit]]

    async def add_history(self, lead_id: str, kind: str, detail: dict[str, Any], at: datetime | None = None) -> None:
        await self.add_history_many([{"lead_id": lead_id, "at": at or self.clock(), "kind": kind, "detail": detail}])

    async def add_history_many(self, rows: Sequence[HistoryRow]) -> None:
        for row in rows:
            self.db.history.append(HistoryEntry(id=self.db.next_id("lead_history"), lead_id=row["lead_id"],
                                                at=_utc(row["at"]), kind=row["kind"],  # type: ignore[arg-type]
                                                detail=_json(row["detail"])))

    async def history(self, lead_id: str) -> list[HistoryEntry]:
        return [_out(h) for h in self.db.history if h.lead_id == lead_id]

    async def add_decision(self, lead_id: str, decided_at: datetime, policy_version: int, rule: str | None,
                           strategy: str | None, owner: str | None, queue: str | None,
                           explanation: dict[str, Any]) -> None:
        self.db.decisions.append(DecisionRecord(
            id=self.db.next_id("decisions"), lead_id=lead_id, decided_at=_utc(decided_at),  # type: ignore[arg-type]
            policy_version=policy_version, rule=rule, strategy=strategy, owner=owner, queue=queue,
            explanation=_json(explanation)))

    async def decisions(self, lead_id: str) -> list[DecisionRecord]:
        return [_out(d) for d in self.db.decisions if d.lead_id == lead_id]

    async def count_decisions(self, lead_id: str) -> int:
        return sum(1 for d in self.db.decisions if d.lead_id == lead_id)


class LockOrderViolation(AssertionError):
    """A transaction locked a fairness row that sorts before one it already holds: on
    PostgreSQL two such transactions can wait on each other in a circle."""


class MemoryRoster(_Repository):
    def __init__(self, uow: MemoryUnitOfWork) -> None:
        super().__init__(uow)
        self.held: set[tuple[int, str]] = set()

    async def lock(self, reps: Collection[str], cursors: Collection[str] = ()) -> None:
        """Nothing to wait for (a MemoryStore runs one transaction at a time), but what SQL does
        is kept: missing rows are made, and the lock order is checked, so a handler that would
        deadlock two PostgreSQL replicas fails its in-memory test."""
        if isinstance(reps, str) or isinstance(cursors, str):
            raise TypeError("lock() takes collections of rep ids and cursor keys, not a string")
        wanted = {(0, rep) for rep in reps} | {(1, key) for key in cursors}
        new = wanted - self.held
        if new and self.held and min(new) < max(self.held):
            raise LockOrderViolation(f"locking {sorted(new)} while holding {sorted(self.held)}")
        self.held |= wanted
        for rep in reps:
            self.db.loads.setdefault(rep, RepLoadRecord(rep, open_leads=0, day=None, assigned_today=0, assigned_total=0,
                                                        converted_total=0, lost_total=0, last_assigned_at=None))
        for key in cursors:
            self.db.cursors.setdefault(key, 0)

    async def loads(self, reps: Collection[str] | None = None) -> dict[str, RepLoadRecord]:
        return {rep: load for rep, load in self.db.loads.items() if reps is None or rep in reps}

    async def adjust_load(self, rep_id: str, *, today: date, open_delta: int = 0, assigned: int = 0,
                          converted: int = 0, lost: int = 0, at: datetime | None = None) -> None:
        stamp = _utc(at or self.clock()) if assigned else None
        old = self.db.loads.get(rep_id)
        if old is None:
            self.db.loads[rep_id] = RepLoadRecord(
                rep_id=rep_id, open_leads=max(0, open_delta), day=today, assigned_today=assigned,
                assigned_total=assigned, converted_total=converted, lost_total=lost, last_assigned_at=stamp)
            return
        self.db.loads[rep_id] = RepLoadRecord(
            rep_id=rep_id, open_leads=max(0, old.open_leads + open_delta), day=today,
            assigned_today=old.assigned_today + assigned if old.day == today else assigned,
            assigned_total=old.assigned_total + assigned, converted_total=old.converted_total + converted,
            lost_total=old.lost_total + lost, last_assigned_at=stamp if assigned else old.last_assigned_at)

    async def cursors(self, keys: Collection[str] | None = None) -> dict[str, int]:
        return {key: position for key, position in self.db.cursors.items() if keys is None or key in keys}

    async def set_cursor(self, key: str, position: int) -> None:
        self.db.cursors[key] = position

    async def credits(self, reps: Collection[str] | None = None) -> dict[str, int]:
        totals: dict[str, int] = {}
        for entry in self.db.ledger:
            if reps is not None and entry.rep_id not in reps:
                continue
            totals[entry.rep_id] = totals.get(entry.rep_id, 0) + entry.delta
        return totals

    async def ledger(self, rep_id: str) -> list[LedgerEntry]:
        return [entry for entry in self.db.ledger if entry.rep_id == rep_id]

    async def add_credit(self, rep_id: str, delta: int, reason: str, by: str | None, lead_id: str | None) -> None:
        self.db.ledger.append(LedgerEntry(id=self.db.next_id("fairness_ledger"), rep_id=rep_id, delta=delta,
                                          reason=reason, by=by, lead_id=lead_id, at=self.clock()))

    async def add_claim(self, rep_id: str, lead_id: str, at: datetime) -> None:
        self.db.claims.append(ClaimRow(rep_id, lead_id, _utc(at)))  # type: ignore[arg-type]

    async def claims_since(self, rep_id: str, since: datetime) -> list[datetime]:
        return sorted(c.at for c in self.db.claims if c.rep_id == rep_id and c.at >= since)


class MemoryClocks(_Repository):
    async def add(self, **step: Unpack[PlannedStep]) -> None:
        await self.add_many([step])

    async def add_many(self, steps: Sequence[PlannedStep]) -> None:
        for step in steps:
            if step["timer_id"] not in self.db.clocks:  # a planned step is left as it is
                self.db.clocks[step["timer_id"]] = ClockRecord(
                    timer_id=step["timer_id"], lead_id=step["lead_id"], clock=step["clock"], step=step["step"],
                    owner=step["owner"], due_at=_utc(step["due_at"]), state="pending",  # type: ignore[arg-type]
                    fired_at=None)

    async def cancel(self, lead_id: str, clocks: Sequence[str] | None = None) -> int:
        chosen = [c for c in self._pending(lead_id) if clocks is None or c.clock in clocks]
        for c in chosen:
            self.db.clocks[c.timer_id] = replace(c, state="cancelled")
        return len(chosen)

    async def transfer(self, lead_id: str, new_owner: str) -> None:
        for c in self._pending(lead_id):
            if c.clock != "offer":
                self.db.clocks[c.timer_id] = replace(c, owner=new_owner)

    async def any_due(self, now: datetime) -> bool:
        return bool(self._due(now))

    async def claim_due(self, now: datetime, limit: int) -> list[ClockRecord]:
        return [_out(c) for c in self._due(now)[:limit]]

    async def mark(self, timer_ids: Sequence[str], state: str, at: datetime) -> None:
        for timer_id in timer_ids:
            if (c := self.db.clocks.get(timer_id)) is not None:
                self.db.clocks[timer_id] = replace(c, state=state, fired_at=_utc(at))

    async def for_lead(self, lead_id: str) -> list[ClockRecord]:
        return [_out(c) for c in sorted((c for c in self.db.clocks.values() if c.lead_id == lead_id),
                                        key=lambda c: c.due_at)]

    async def stats(self, now: datetime) -> tuple[int, datetime | None]:
        pending = [c for c in self.db.clocks.values() if c.state == "pending"]
        due = [c.due_at for c in pending if c.due_at <= now]
        return len(pending), min(due, default=None)

    def _pending(self, lead_id: str) -> Iterable[ClockRecord]:
        return [c for c in self.db.clocks.values() if c.lead_id == lead_id and c.state == "pending"]

    def _due(self, now: datetime) -> list[ClockRecord]:
        due = (c for c in self.db.clocks.values() if c.state == "pending" and c.due_at <= now)
        return sorted(due, key=lambda c: (c.due_at, c.timer_id))


_DELIVERY_CHANGES = set(DeliveryChanges.__annotations__)


class MemoryDeliveries(_Repository):
    async def add(self, **delivery: Unpack[NewDelivery]) -> None:
        if any(d.dedup_key == delivery["dedup_key"] for d in self.db.deliveries.values()):
            return  # queued already (a redelivered event)
        now = self.clock()
        delivery_id = self.db.next_id("deliveries")
        self.db.deliveries[delivery_id] = DeliveryRecord(
            id=delivery_id, dedup_key=delivery["dedup_key"], lead_id=delivery["lead_id"],
            recipient=delivery["recipient"], kind=delivery["kind"], platform=delivery["platform"],
            message=_json(delivery["message"]), received_at=_utc(delivery.get("received_at")), state="pending",
            attempts=0, next_attempt_at=now, last_error=None, created_at=now, sent_at=None)

    async def due(self, now: datetime, limit: int) -> list[DeliveryRecord]:
        return [_out(d) for d in self._due(now)[:limit]]

    async def any_due(self, now: datetime) -> bool:
        return bool(self._due(now))

    async def update(self, delivery_id: int, **changes: Unpack[DeliveryChanges]) -> None:
        unknown = set(changes) - _DELIVERY_CHANGES
        if unknown:
            raise TypeError(f"deliveries: no column {sorted(unknown)}")
        values = {k: _utc(v) if isinstance(v, datetime) else v for k, v in changes.items()}
        if (d := self.db.deliveries.get(delivery_id)) is not None:
            self.db.deliveries[delivery_id] = replace(d, **values)

    async def for_lead(self, lead_id: str) -> list[DeliveryRecord]:
        return [_out(d) for _, d in sorted(self.db.deliveries.items()) if d.lead_id == lead_id]

    def _due(self, now: datetime) -> list[DeliveryRecord]:
        due = (d for d in self.db.deliveries.values() if d.state in WAITING_DELIVERIES and d.next_attempt_at <= now)
        return sorted(due, key=lambda d: (d.next_attempt_at, d.id))


class MemorySubscriptions(_Repository):
    async def add(self, **subscription: Unpack[NewSubscription]) -> SubscriptionRecord:
        if subscription["id"] in self.db.subscriptions:
            raise ConstraintViolation(f"webhook_subscriptions: id {subscription['id']} taken")
        new = SubscriptionRecord(
            id=subscription["id"], url=subscription["url"], target=subscription["target"],
            secret=subscription["secret"], previous_secret=None, secret_rotated_at=None,
            event_types=_json(subscription["event_types"]), config=_json(subscription["config"]), active=True,
            created_at=self.clock(), removed_at=None)
        self.db.subscriptions[new.id] = new
        return _out(new)

    async def get(self, subscription_id: str) -> SubscriptionRecord | None:
        found = self.db.subscriptions.get(subscription_id)
        return _out(found) if found is not None else None

    async def list(self, *, include_removed: bool = False) -> list[SubscriptionRecord]:
        return [_out(s) for s in sorted(self.db.subscriptions.values(), key=lambda s: (s.created_at, s.id))
                if include_removed or s.active]

    async def remove(self, subscription_id: str) -> bool:
        found = self.db.subscriptions.get(subscription_id)
        if found is None or not found.active:
            return False
        self.db.subscriptions[subscription_id] = replace(found, active=False, removed_at=self.clock())
        return True

    async def set_secret(self, subscription_id: str, secret: str, previous_secret: str | None) -> bool:
        found = self.db.subscriptions.get(subscription_id)
        if found is None or not found.active:
            return False
        self.db.subscriptions[subscription_id] = replace(found, secret=secret, previous_secret=previous_secret,
                                                         secret_rotated_at=self.clock())
        return True


_WEBHOOK_DELIVERY_CHANGES = set(WebhookDeliveryChanges.__annotations__)


class MemoryWebhookDeliveries(_Repository):
    async def add(self, **delivery: Unpack[NewWebhookDelivery]) -> None:
        if any(d.dedup_key == delivery["dedup_key"] for d in self.db.webhook_deliveries.values()):
            return  # queued already (a redelivered event)
        now = self.clock()
        delivery_id = self.db.next_id("webhook_deliveries")
        self.db.webhook_deliveries[delivery_id] = WebhookDeliveryRecord(
            id=delivery_id, dedup_key=delivery["dedup_key"], subscription_id=delivery["subscription_id"],
            event_id=delivery["event_id"], event_type=delivery["event_type"], lead_id=delivery["lead_id"],
            occurred_at=_utc(delivery["occurred_at"]), payload=_json(delivery["payload"]),  # type: ignore[arg-type]
            state="pending", attempts=0, next_attempt_at=now, last_error=None, created_at=now, delivered_at=None)

    async def due(self, now: datetime, limit: int) -> list[WebhookDeliveryRecord]:
        return [_out(d) for d in self._due(now)[:limit]]

    async def any_due(self, now: datetime) -> bool:
        return bool(self._due(now))

    async def get(self, delivery_id: int) -> WebhookDeliveryRecord | None:
        found = self.db.webhook_deliveries.get(delivery_id)
        return _out(found) if found is not None else None

    async def update(self, delivery_id: int, **changes: Unpack[WebhookDeliveryChanges]) -> None:
        unknown = set(changes) - _WEBHOOK_DELIVERY_CHANGES
        if unknown:
            raise TypeError(f"webhook_deliveries: no column {sorted(unknown)}")
        values = {k: _utc(v) if isinstance(v, datetime) else v for k, v in changes.items()}
        if (d := self.db.webhook_deliveries.get(delivery_id)) is not None:
            self.db.webhook_deliveries[delivery_id] = replace(d, **values)

    async def for_lead(self, lead_id: str) -> list[WebhookDeliveryRecord]:
        return [_out(d) for _, d in sorted(self.db.webhook_deliveries.items()) if d.lead_id == lead_id]

    async def list(self, *, subscription_id: str | None = None, states: tuple[str, ...] = (),
                   limit: int = 100) -> list[WebhookDeliveryRecord]:
        chosen = [d for _, d in sorted(self.db.webhook_deliveries.items(), reverse=True)
                  if (subscription_id is None or d.subscription_id == subscription_id)
                  and (not states or d.state in states)]
        return [_out(d) for d in chosen[:limit]]

    async def cancel_waiting(self, subscription_id: str) -> int:
        chosen = [d for d in self.db.webhook_deliveries.values()
                  if d.subscription_id == subscription_id and d.state in ("pending", "dead")]
        for d in chosen:
            self.db.webhook_deliveries[d.id] = replace(d, state="cancelled", last_error="the subscription was removed")
        return len(chosen)

    def _due(self, now: datetime) -> list[WebhookDeliveryRecord]:
        rows = self.db.webhook_deliveries.values()
        waiting = [d for d in rows if d.state in WAITING_DELIVERIES]

        def blocked(d: WebhookDeliveryRecord) -> bool:
            return any(e.subscription_id == d.subscription_id and e.lead_id == d.lead_id and e.id < d.id
                       for e in waiting)

        due = (d for d in waiting if d.next_attempt_at <= now and not blocked(d))
        return sorted(due, key=lambda d: (d.next_attempt_at, d.id))


class MemoryReports(_Repository):
    async def funnel_leads(self, since: datetime, until: datetime) -> list[LeadJourney]:
        since, until = _utc(since), _utc(until)  # type: ignore[assignment]
        period = sorted((lead for lead in self.db.leads.values() if since <= lead.received_at < until),
                        key=lambda lead: (lead.received_at, lead.lead_id))
        journeys = []
        for lead in period:
            decisions = [d for d in self.db.decisions if d.lead_id == lead.lead_id]
            first_touch = [c for c in self.db.clocks.values() if c.lead_id == lead.lead_id and c.clock == "first_touch"]
            journeys.append(LeadJourney(
                lead_id=lead.lead_id, source=lead.source, received_at=lead.received_at, grade=lead.grade,
                owner=lead.owner, previous_owner=lead.previous_owner, team=lead.team, queue=lead.queue,
                policy_version=lead.policy_version, rule=decisions[0].rule if decisions else None,
                milestones=tuple(Milestone(h.kind, h.at) for h in self.db.history
                                 if h.lead_id == lead.lead_id and h.kind in FUNNEL_MILESTONES),
                first_touch_clock=bool(first_touch),
                first_touch_breached=any(c.step == "escalate" and c.state == "fired" for c in first_touch)))
        return journeys


class MemoryPrivacy(_Repository):
    """Erasure as the SQL adapter does it (shared/adapters/sql/privacy.py), over the tables."""

    async def erase_person(self, person_id: str, data: Mapping[str, Any], values: frozenset[str]) -> None:
        if (person := self.db.persons.get(person_id)) is not None:
            self.db.persons[person_id] = replace(person, data=_json(dict(data)))
        for key in [k for k, owner in self.db.person_keys.items() if owner == person_id]:
            del self.db.person_keys[key]
        for key in [k for k in self.db.match_keys if k[1] == person_id]:
            del self.db.match_keys[key]
        for merge_id, merge in list(self.db.merges.items()):
            if person_id in (merge.person_id, merge.from_person_id):
                before = {"erased": True} if merge.person_id == person_id else scrubbed(merge.person_before, values)
                self.db.merges[merge_id] = replace(merge, person_before=_json(before), identity_keys=[])
        for pair_id, pair in list(self.db.pairs.items()):
            if person_id in (pair.person_id, pair.other_person_id) and pair.state == "open":
                self.db.pairs[pair_id] = replace(pair, state="kept_apart", decided_at=self.clock(), decided_by="erased")

    async def erase_leads(self, lead_ids: Sequence[str], values: frozenset[str]) -> int:
        wanted = set(lead_ids)
        changed = 0
        for lead_id in sorted(wanted):
            lead = self.db.leads.get(lead_id)
            if lead is not None and not is_erased(lead.contact):
                changed += 1
                self.db.leads[lead_id] = replace(lead, contact=tombstone_contact(lead.contact or {}),
                                                 identity_key=f"erased:{lead_id}")
        self.db.history = [replace(h, detail=scrubbed(h.detail, values)) if h.lead_id in wanted else h
                           for h in self.db.history]
        self.db.decisions = [replace(d, explanation=scrubbed(d.explanation, values)) if d.lead_id in wanted else d
                             for d in self.db.decisions]
        self.db.ledger = [replace(e, reason=scrubbed(e.reason, values)) if e.lead_id in wanted else e
                          for e in self.db.ledger]
        for table, column, waiting in ((self.db.deliveries, "message", ("pending", "sending")),
                                       (self.db.webhook_deliveries, "payload", ("pending", "sending", "dead"))):
            for row_id, row in list(table.items()):
                if row.lead_id in wanted:
                    cancelled = row.state in waiting
                    table[row_id] = replace(  # type: ignore[type-var]
                        row, **{column: {"erased": True}},
                        state="cancelled" if cancelled else row.state,
                        last_error="the person was erased" if cancelled else scrubbed(row.last_error, values))
        for key in [k for k, r in self.db.idempotency.items() if r.lead_id in wanted]:
            del self.db.idempotency[key]
        return changed

    async def erase_events(self, keys: Sequence[str]) -> int:
        wanted = set(keys)
        erased_ids: set[str] = set()
        count = 0
        for index, row in enumerate(self.db.outbox):
            if row.key in wanted and not is_event_tombstone(row.payload):
                try:
                    erased_ids.add(json.loads(row.payload)["id"])
                except (ValueError, KeyError, TypeError):
                    pass
                erased_ids.add(row.event_id)
                count += 1
                self.db.outbox[index] = replace(row, payload=event_tombstone(row.event_id), key="erased")
        for letter_id, letter in list(self.db.dead_letters.items()):
            if letter.event_id in erased_ids:
                self.db.dead_letters[letter_id] = replace(letter, payload=event_tombstone(letter.event_id),
                                                          error="erased")
        return count

    async def drop_old_versions(self) -> bool:
        return True  # nothing here keeps an old version

    async def erased_events(self, event_ids: Collection[str]) -> set[str]:
        wanted = set(event_ids)
        return {row.event_id for row in self.db.outbox if row.event_id in wanted and is_event_tombstone(row.payload)}

    async def merges_of(self, person_id: str) -> list[PersonMerge]:
        found = [m for m in self.db.merges.values() if person_id in (m.person_id, m.from_person_id)]
        return [_out(m) for m in sorted(found, key=lambda m: (m.merged_at, m.merge_id))]


class MemoryUnitOfWork:
    """One transaction over a private copy of the tables (the ``UnitOfWork`` port)."""

    def __init__(self, tables: Tables, store: MemoryStore) -> None:
        self.tables = tables
        self.store = store
        self.clock = store.clock
        self.on_commit: list[Callable[[], None]] = []
        self.outbox = MemoryOutbox(self)
        self.inbox = MemoryInbox(self)
        self.policies = MemoryPolicies(self)
        self.sources = MemorySources(self)
        self.tokens = MemoryTokens(self)
        self.idempotency = MemoryIdempotency(self)
        self.people = MemoryPeople(self)
        self.matches = MemoryMatches(self)
        self.leads = MemoryLeads(self)
        self.roster = MemoryRoster(self)
        self.clocks = MemoryClocks(self)
        self.deliveries = MemoryDeliveries(self)
        self.subscriptions = MemorySubscriptions(self)
        self.webhook_deliveries = MemoryWebhookDeliveries(self)
        self.reports = MemoryReports(self)
        self.console_sessions = MemoryConsoleSessions(self)
        self.crm_links = MemoryCrmLinks(self)
        self.privacy = MemoryPrivacy(self)

    def after_commit(self, callback: Callable[[], None]) -> None:
        self.on_commit.append(callback)


class MemoryStore:
    """The ``Store`` port in memory. ``available = False`` makes it act like a database that is
    away (every unit of work raises StoreUnavailable), for testing what waits it out."""

    url = "memory://"

    def __init__(self, clock: Clock = system_clock) -> None:
        self.clock = clock
        self.tables = Tables()
        self.available = True
        self.parsed_policies: dict[str, Policy] = {}  # by the document's digest
        self._write_turn = asyncio.Lock()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[MemoryUnitOfWork]:
        """Commits when the block ends without an exception; rolls back otherwise."""
        self._check_available()
        async with self._write_turn:
            uow = MemoryUnitOfWork(self.tables.snapshot(), self)
            yield uow
            self.tables = uow.tables  # reached only when the block raised nothing
        for callback in uow.on_commit:
            callback()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[MemoryUnitOfWork]:
        self._check_available()
        yield MemoryUnitOfWork(self.tables.snapshot(), self)

    async def dispose(self) -> None:
        pass

    def _check_available(self) -> None:
        if not self.available:
            raise StoreUnavailable("memory store switched off by the test")

    # -- what a test reads that no port offers ---------------------------------------------------

    @property
    def emitted(self) -> list[OutboxRow]:
        """The committed outbox, in the order it was written."""
        return list(self.tables.outbox)

    def envelopes(self, topic: str | None = None) -> list[Envelope]:
        """The committed outbox's events (of ``topic``), in order."""
        return [row.envelope() for row in self.tables.outbox if topic is None or row.topic == topic]
