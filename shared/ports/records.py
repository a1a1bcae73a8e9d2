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
    answered_at: datetime | None = None  # None: reserved, its event not yet known to be in the log


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
class PolicyVersionRecord:
    """One stored policy version, without its document."""

    version: int
    digest: str
    created_at: datetime
    created_by: str | None


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


@dataclass(frozen=True)
class Milestone:
    """One entry of a lead's history that the funnel reads: its ``kind`` and when it happened."""

    kind: str
    at: datetime


@dataclass(frozen=True)
class LeadJourney:
    """What the funnel report reads of one lead (``ReportRepository.funnel_leads``): how it is
    grouped, and the history entries and SLA facts that place it in the funnel.

    ``owner`` holds the lead now; ``previous_owner`` held it before (a lead recycled to the pool
    has no owner and keeps its last one here); ``team`` is the team it belongs to (kept while it
    waits in a queue or the pool); ``rule`` is the rule of its first routing decision (None: the
    policy's fallback parked it); ``milestones`` are its history entries of the
    ``FUNNEL_MILESTONES`` kinds, in the order they were written; ``first_touch_clock``: a
    first-touch SLA clock was ever planned for it; ``first_touch_breached``: the escalate step of
    one fired (what the scheduler records as "SLA breached")."""

    lead_id: str
    source: str
    received_at: datetime
    grade: str | None
    owner: str | None
    previous_owner: str | None
    team: str | None
    queue: str | None
    policy_version: int | None
    rule: str | None
    milestones: tuple[Milestone, ...]
    first_touch_clock: bool
    first_touch_breached: bool


@dataclass(frozen=True)
class SubscriptionRecord:
    """A webhook subscription or a CRM connector (``target``). ``secret`` and ``previous_secret``
    are sealed (``shared/secret_box.py``); the previous one still signs until ``secret_rotated_at``
    plus the rotation's grace period."""

    id: str
    url: str
    target: str
    secret: str
    previous_secret: str | None
    secret_rotated_at: datetime | None
    event_types: list[str]
    config: dict[str, Any]
    active: bool
    created_at: datetime
    removed_at: datetime | None


@dataclass(frozen=True)
class WebhookDeliveryRecord:
    """One event for one subscription. States: pending, sending (leased until ``next_attempt_at``),
    delivered, skipped, dead (out of attempts or refused for good; redrive makes it pending),
    cancelled (its subscription was removed)."""

    id: int
    dedup_key: str
    subscription_id: str
    event_id: str
    event_type: str
    lead_id: str
    occurred_at: datetime
    payload: dict[str, Any]
    state: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


@dataclass(frozen=True)
class PersonMerge:
    """One merge of people (fuzzy matching): what moved into ``person_id``, so it can be undone."""

    merge_id: str
    person_id: str  # the person kept
    from_person_id: str | None  # the person merged into it; None when a new lead's keys joined it
    lead_ids: list[str]
    identity_keys: list[str]
    person_before: dict[str, Any] | None  # person_id's record before the merge
    kind: str  # auto | review
    score: float | None
    reasons: list[str]
    merged_at: datetime
    merged_by: str
    undone_at: datetime | None = None
    undone_by: str | None = None


@dataclass(frozen=True)
class DuplicatePair:
    """Two people who may be one, for a person to decide (merge, or keep apart)."""

    pair_id: str
    person_id: str
    other_person_id: str
    lead_id: str
    score: float
    reasons: list[str]
    state: str  # open | merged | kept_apart
    created_at: datetime
    decided_at: datetime | None = None
    decided_by: str | None = None
