"""The people we know: one record per person, found by any of their identity keys."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from leadrelay.shared.ports.records import StoredPerson


class PersonRepository(Protocol):
    async def ids_for_keys(self, keys: Sequence[str]) -> list[str]:
        """The ids of the people any of these identity keys belongs to, sorted."""
        ...

    async def get(self, person_id: str, *, lock: bool = False) -> StoredPerson | None: ...

    async def save(self, person_id: str, data: dict[str, Any], owner: str | None, lead_count: int,
                   first_seen_at: datetime, last_seen_at: datetime, keys: Sequence[str], *, new: bool) -> None:
        """Inserts (``new``) or updates the person, and links every key to them."""
        ...

    async def set_owner(self, person_id: str, owner: str | None) -> None: ...

    async def keys_of(self, person_id: str) -> list[str]:
        """The person's identity keys, sorted."""
        ...

    async def get_many(self, person_ids: Sequence[str]) -> dict[str, StoredPerson]:
        """The people of these ids that exist (one query, not one per person)."""
        ...

    async def keys_of_many(self, person_ids: Sequence[str]) -> dict[str, list[str]]:
        """Each person's identity keys, sorted; a person without keys is left out."""
        ...

    async def move_keys(self, keys: Sequence[str], to_person_id: str) -> None:
        """Links these keys to another person (a merge, or its undo)."""
        ...

    async def delete(self, person_id: str) -> None:
        """Removes a person who has no keys and no leads left (merged into another)."""
        ...
