"""Intake's idempotency keys: a retried post gets the answer the first one got.

A key is reserved for one body before its event is published (``remember``), marked answered once
the event is in the log (``answered``), and released only by the post that reserved it when its
publish failed (``forget``), so a corrected retry can use it."""

from __future__ import annotations

from typing import Protocol

from leadrelay.shared.ports.records import IdempotencyRecord


class IdempotencyRepository(Protocol):
    async def get(self, source: str, key: str) -> IdempotencyRecord | None: ...

    async def remember(self, source: str, key: str, body_hash: str, lead_id: str) -> bool:
        """Reserves the key for this body (not yet answered); False when it was reserved before
        (a retry or a reuse)."""
        ...

    async def answered(self, source: str, key: str, body_hash: str) -> bool:
        """Marks the key's reservation for ``body_hash`` answered: its event is in the log, and it
        can no longer be forgotten. False when the key holds no reservation for that body."""
        ...

    async def forget(self, source: str, key: str, body_hash: str) -> bool:
        """Releases the key's reservation for ``body_hash`` if it was never answered; False when there
        is none such (no reservation, another body's, or one answered meanwhile)."""
        ...
