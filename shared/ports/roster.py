"""Fairness state: rep loads, round-robin cursors, the credit ledger and pool claims.

All of it lives in the database, never in a process's memory, so fairness survives restarts
and replicas. It is locked **per pool**, not per company: a transaction that reads a rep's load
or credit in order to change someone's fairness state, or moves a cursor, first locks those
rows with :meth:`RosterRepository.lock`. Decisions over disjoint pools then run side by side;
decisions that share a rep or a cursor take turns on exactly what they share.

Lock order, which keeps two transactions from ever waiting on each other in a circle: every
rep row before every cursor row, reps by id, cursors by key. A transaction's first ``lock``
names everything it will lock; a later ``lock`` in the same transaction may only add rows that
sort after what it holds (re-locking a held row is free)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime
from typing import Protocol

from leadrelay.shared.ports.records import LedgerEntry, RepLoadRecord


class RosterRepository(Protocol):
    async def lock(self, reps: Collection[str], cursors: Collection[str] = ()) -> None:
        """Holds the fairness rows of ``reps`` (their loads, hence their credits and claims) and
        the rotation ``cursors`` until the transaction ends, taking them in the lock order
        whatever order they are given in; a rep or cursor never seen before is created first
        (no load; position 0). Waits while another transaction holds one of them."""
        ...

    async def loads(self, reps: Collection[str] | None = None) -> dict[str, RepLoadRecord]:
        """The load rows of ``reps`` (of every rep when None: views and tests, not decisions)."""
        ...

    async def adjust_load(self, rep_id: str, *, today: date, open_delta: int = 0, assigned: int = 0,
                          converted: int = 0, lost: int = 0, at: datetime | None = None) -> None:
        """Moves the rep's counters by the deltas; the daily count restarts on a new ``today``."""
        ...

    async def cursors(self, keys: Collection[str] | None = None) -> dict[str, int]:
        """The positions of the cursors ``keys`` that exist (all when None)."""
        ...

    async def set_cursor(self, key: str, position: int) -> None: ...

    async def credits(self, reps: Collection[str] | None = None) -> dict[str, int]:
        """The credit balance (the ledger's sum) of each of ``reps`` with ledger entries (all when None)."""
        ...

    async def ledger(self, rep_id: str) -> list[LedgerEntry]:
        """Oldest first."""
        ...

    async def add_credit(self, rep_id: str, delta: int, reason: str, by: str | None, lead_id: str | None) -> None:
        ...

    async def add_claim(self, rep_id: str, lead_id: str, at: datetime) -> None: ...

    async def claims_since(self, rep_id: str, since: datetime) -> list[datetime]: ...
