"""Leads, their history and their routing decisions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol, TypedDict, Unpack

from leadrelay.shared.ports.records import DecisionRecord, HistoryEntry, LeadRecord


class LeadChanges(TypedDict, total=False):
    """The fields of a lead that change after it is first stored."""

    state: str
    owner: str | None
    team: str | None
    queue: str | None
    person_id: str | None
    assigned_at: datetime | None
    accepted_at: datetime | None
    contacted_at: datetime | None
    closed_at: datetime | None
    previous_owner: str | None
    recycled_at: datetime | None
    policy_version: int | None


class NewLead(LeadChanges, total=False):
    lead_id: str
    source: str
    identity_key: str
    correlation_id: str
    received_at: datetime
    contact: dict[str, Any]
    score: int | None
    grade: str | None
    reasons: list[dict[str, Any]] | None
    duplicate_of: str | None


class HistoryRow(TypedDict):
    lead_id: str
    at: datetime
    kind: str
    detail: dict[str, Any]


class LeadRepository(Protocol):
    async def insert(self, **lead: Unpack[NewLead]) -> None: ...

    async def update(self, lead_id: str, **changes: Unpack[LeadChanges]) -> None: ...

    async def get(self, lead_id: str, *, lock: bool = False) -> LeadRecord | None: ...

    async def by_ids(self, lead_ids: Sequence[str], *, lock: bool = False) -> dict[str, LeadRecord]:
        """By id; with ``lock``, locked in id order (two schedulers never deadlock)."""
        ...

    async def where(self, *, owner: str | None = None, owners: Sequence[str] | None = None,
                    source: str | None = None, state: str | None = None, queue: str | None = None,
                    teams: Sequence[str | None] | None = None, limit: int = 100) -> list[LeadRecord]:
        """Newest first. ``teams``: leads whose stored ``team`` is one of these (None in it: or no team)."""
        ...

    async def received_between(self, start: datetime, end: datetime, limit: int) -> list[LeadRecord]:
        """Leads received in [start, end), oldest first (ties by id), at most ``limit`` of them."""
        ...

    async def of_persons(self, person_ids: Sequence[str], limit: int = 100) -> list[LeadRecord]:
        """The leads of these people, newest first."""
        ...

    async def add_history(self, lead_id: str, kind: str, detail: dict[str, Any], at: datetime | None = None) -> None:
        ...

    async def add_history_many(self, rows: Sequence[HistoryRow]) -> None: ...

    async def history(self, lead_id: str) -> list[HistoryEntry]:
        """Oldest first."""
        ...

    async def add_decision(self, lead_id: str, decided_at: datetime, policy_version: int, rule: str | None,
                           strategy: str | None, owner: str | None, queue: str | None,
                           explanation: dict[str, Any]) -> None: ...

    async def decisions(self, lead_id: str) -> list[DecisionRecord]:
        """Oldest first."""
        ...

    async def count_decisions(self, lead_id: str) -> int: ...
