"""Durable SLA clocks: one row per planned step; any scheduler replica claims due ones."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol, TypedDict, Unpack

from leadrelay.shared.ports.records import ClockRecord


class PlannedStep(TypedDict):
    timer_id: str
    lead_id: str
    clock: str
    step: str
    owner: str | None
    due_at: datetime


class ClockRepository(Protocol):
    async def add(self, **step: Unpack[PlannedStep]) -> None:
        """Plans one step; a step with the same timer id is left as it is."""
        ...

    async def add_many(self, steps: Sequence[PlannedStep]) -> None:
        """Plans many steps in one statement (an assignment starts about seven)."""
        ...

    async def cancel(self, lead_id: str, clocks: Sequence[str] | None = None) -> int:
        """Cancels pending steps (of these clocks); a step a scheduler holds is waited for."""
        ...

    async def transfer(self, lead_id: str, new_owner: str) -> None:
        """Hands a lead's pending clocks (not its offer) to a new owner, deadlines unchanged."""
        ...

    async def any_due(self, now: datetime) -> bool: ...

    async def claim_due(self, now: datetime, limit: int) -> list[ClockRecord]:
        """Due pending steps, soonest first, held until the transaction ends; replicas skip held ones."""
        ...

    async def mark(self, timer_ids: Sequence[str], state: str, at: datetime) -> None: ...

    async def for_lead(self, lead_id: str) -> list[ClockRecord]:
        """By due time."""
        ...

    async def stats(self, now: datetime) -> tuple[int, datetime | None]:
        """(open steps, the oldest due-but-unfired step's due time)."""
        ...
