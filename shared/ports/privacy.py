"""Erasure and access requests (PIPL, GDPR): erasing a person's personal data in every table and
in the embedded event log, and the reads an export needs that no other repository offers.

What is personal is decided by the pure ``leadrelay.shared.erasure``; these methods apply it.
Every method is idempotent: erasing what is erased changes nothing.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any, Protocol

from leadrelay.shared.ports.records import PersonMerge


class PrivacyRepository(Protocol):
    async def erase_person(self, person_id: str, data: Mapping[str, Any], values: frozenset[str]) -> None:
        """Replaces the person's record data with ``data`` (keeping the row, its owner and counts),
        deletes their identity keys and fuzzy-matching keys (nothing can find them again), and
        scrubs the merges they took part in: the record before (theirs is dropped, another's has
        every personal value in ``values`` scrubbed) and the keys moved. Their open duplicate
        pairs are closed as kept apart (by ``erased``)."""
        ...

    async def erase_leads(self, lead_ids: Sequence[str], values: frozenset[str]) -> int:
        """For these leads: the contact becomes its tombstone; history details, decision
        explanations and fairness-ledger reasons have every personal value in ``values`` scrubbed;
        chat and webhook deliveries lose their stored message or payload (waiting ones are
        cancelled); idempotency records are deleted. The lead rows stay, with their state, owner,
        times, source, score and grade, so reports still count them. Returns the leads changed."""
        ...

    async def erase_events(self, keys: Sequence[str]) -> int:
        """Tombstones every event in the log keyed by one of these identity keys (their
        dead-letter copies and dead letters too): the rows stay, so positions stay valid.
        Returns how many events were tombstoned now."""
        ...

    async def drop_old_versions(self) -> bool:
        """After an erasure committed (call it outside the erasure's transaction): has the
        database drop the copies of rows as they were before, where it keeps any (SQLite's
        write-ahead log). False when it could not finish (a reader held on to an old snapshot)."""
        ...

    async def erased_events(self, event_ids: Collection[str]) -> set[str]:
        """Those of the events that the log holds as tombstones, with one statement (a consumer
        reading another copy of one, from Kafka, skips it)."""
        ...

    async def merges_of(self, person_id: str) -> list[PersonMerge]:
        """The merges the person took part in (kept or merged away), oldest first."""
        ...
