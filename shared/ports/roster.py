"""Fairness state: rep loads, round-robin cursors, the credit ledger and pool claims.

All of it is read and written under the roster lock, in the database, never in a process's
memory, so fairness survives restarts and replicas."""

from __future__ import annotations

from datetime import date, datetime
from typing import Protocol

from leadrelay.shared.ports.records import LedgerEntry, RepLoadRecord


class RosterRepository(Protocol):
    async def lock(self) -> None:
        """Serialises routing decisions until the transaction ends."""
        ...

    async def loads(self) -> dict[str, RepLoadRecord]: ...

    async def adjust_load(self, rep_id: str, *, today: date, open_delta: int = 0, assigned: int = 0,
                          converted: int = 0, lost: int = 0, at: datetime | None = None) -> None:
        """Moves the rep's counters by the deltas; the daily count restarts on a new ``today``."""
        ...

    async def cursors(self) -> dict[str, int]: ...

    async def set_cursor(self, key: str, position: int) -> None: ...

    async def credits(self) -> dict[str, int]:
        """Each rep's credit balance (the ledger's sum)."""
        ...

    async def ledger(self, rep_id: str) -> list[LedgerEntry]:
        """Oldest first."""
        ...

    async def add_credit(self, rep_id: str, delta: int, reason: str, by: str | None, lead_id: str | None) -> None:
        ...

    async def add_claim(self, rep_id: str, lead_id: str, at: datetime) -> None: ...

    async def claims_since(self, rep_id: str, since: datetime) -> list[datetime]: ...
