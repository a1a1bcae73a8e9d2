"""What the store hands back: typed, frozen records, one per stored thing.

Every time in a record is an aware UTC datetime (the adapter normalises what its driver gives),
every payload is ``bytes``. Records are plain data: no database handle, no lazy loading.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any


@dataclass(frozen=True)
class SourceRecord:
    name: str
    kind: str
    key_hash: str
    key_prefix: str
    config: dict[str, Any]
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True)
class TokenRecord:
    token_hash: str
    key_prefix: str
    role: str
    rep_id: str | None
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True)
class IdempotencyRecord:
    source: str
    key: str
    body_hash: str
    lead_id: str
    created_at: datetime


@dataclass(frozen=True)
class StoredPerson:
    person_id: str
    data: dict[str, Any]
    owner: str | None
    lead_count: int
    first_seen_at: datetime
    last_seen_at: datetime


@dataclass(frozen=True)
class LeadRecord:
    lead_id: str
    person_id: str | None
    source: str
    identity_key: str
    correlation_id: str
    received_at: datetime
    contact: dict[str, Any]
    score: int | None
    grade: str | None
    reasons: list[dict[str, Any]] | None
    duplicate_of: str | None
    state: str
    owner: str | None
    team: str | None
    queue: str | None
    policy_version: int | None
    assigned_at: datetime | None
    accepted_at: datetime | None
    contacted_at: datetime | None
    closed_at: datetime | None
    previous_owner: str | None
    recycled_at: datetime | None
    updated_at: datetime


@dataclass(frozen=True)
class HistoryEntry:
    id: int
    lead_id: str
    at: datetime
    kind: str
    detail: dict[str, Any]


@dataclass(frozen=True)
class DecisionRecord:
    id: int
    lead_id: str
    decided_at: datetime
    policy_version: int
    rule: str | None
    strategy: str | None
    owner: str | None
    queue: str | None
    explanation: dict[str, Any]


@dataclass(frozen=True)
class RepLoadRecord:
    rep_id: str
    open_leads: int
    day: date | None
    assigned_today: int
    assigned_total: int
    converted_total: int
    lost_total: int
    last_assigned_at: datetime | None


@dataclass(frozen=True)
class LedgerEntry:
    id: int
    rep_id: str
    delta: int
    reason: str
    by: str | None
    lead_id: str | None
    at: datetime


@dataclass(frozen=True)
class DeliveryRecord:
    id: int
    dedup_key: str
    lead_id: str
    recipient: str
    kind: str
    platform: str
    message: dict[str, Any]
    received_at: datetime | None
    state: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


@dataclass(frozen=True)
class ClockRecord:
    """One planned step of an SLA clock: ``timer_id`` is ``<lead>:<assignment n>:<clock>:<step>``."""

    timer_id: str
    lead_id: str
    clock: str
    step: str
    owner: str | None
    due_at: datetime
    state: str
    fired_at: datetime | None


@dataclass(frozen=True)
class DeadLetterRecord:
    id: int
    consumer: str
    topic: str
    event_id: str | None
    payload: bytes
    error: str
    created_at: datetime
    redriven_at: datetime | None
