"""Fuzzy matching's state: the blocking keys that find people by name, the merges it made (each
undoable), and the pairs left for a person to review."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from leadrelay.shared.ports.records import DuplicatePair, PersonMerge


class MatchRepository(Protocol):
    async def candidates(self, match_keys: Sequence[str], per_key: int) -> list[str]:
        """The people any of these blocking keys belongs to, at most ``per_key`` per key (the most
        recently seen), each once, in key order then most recent first."""
        ...

    async def link(self, person_id: str, match_keys: Sequence[str], seen_at: datetime) -> None:
        """Indexes the person under these keys (again: ``seen_at`` moves forward)."""
        ...

    async def unlink(self, person_id: str) -> None:
        """Drops the person from the index (merged into another, or erased)."""
        ...

    async def record_merge(self, merge: PersonMerge) -> None: ...

    async def merge(self, merge_id: str) -> PersonMerge | None: ...

    async def merges(self, limit: int = 100) -> list[PersonMerge]:
        """Newest first."""
        ...

    async def mark_undone(self, merge_id: str, at: datetime, by: str) -> bool:
        """False when it was undone already (of two concurrent undos, one gets True)."""
        ...

    async def add_pair(self, pair: DuplicatePair) -> None: ...

    async def pair(self, pair_id: str) -> DuplicatePair | None: ...

    async def pairs(self, state: str | None = "open", limit: int = 100) -> list[DuplicatePair]:
        """Newest first."""
        ...

    async def decide(self, pair_id: str, state: str, at: datetime, by: str) -> bool:
        """Moves an open pair to ``merged`` or ``kept_apart``; False when it was not open."""
        ...

    async def kept_apart(self, person_id: str, other_person_id: str) -> bool:
        """Whether a person decided these two are different people (either way round)."""
        ...
