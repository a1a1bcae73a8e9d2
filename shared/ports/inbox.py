"""Events in: the ids each consumer has handled (exactly-once effect) and the dead letters."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from leadrelay.shared.ports.records import DeadLetterRecord


class Inbox(Protocol):
    async def mark_processed(self, consumer: str, event_id: str) -> bool:
        """Records the event as handled by ``consumer``; False when it was already (a redelivery)."""
        ...

    async def mark_processed_many(self, consumer: str, event_ids: Sequence[str]) -> set[str]:
        """Records the events as handled by ``consumer`` with one statement; returns the ids that
        were not yet (the others are redeliveries). An id given twice is returned once."""
        ...

    async def forget(self, consumer: str, event_id: str) -> None:
        """Lets ``consumer`` handle the event again (a redrive after a fix)."""
        ...

    async def dead_letter(self, consumer: str, topic: str, event_id: str | None, payload: bytes, error: str) -> None:
        ...

    async def dead_letters(self, include_redriven: bool = False) -> list[DeadLetterRecord]:
        """Oldest first."""
        ...

    async def mark_redriven(self, dead_letter_id: int) -> None: ...
