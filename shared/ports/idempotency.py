"""Intake's idempotency keys: a retried post gets the answer the first one got."""

from __future__ import annotations

from typing import Protocol

from leadrelay.shared.ports.records import IdempotencyRecord


class IdempotencyRepository(Protocol):
    async def get(self, source: str, key: str) -> IdempotencyRecord | None: ...

    async def remember(self, source: str, key: str, body_hash: str, lead_id: str) -> bool:
        """Reserves the key; False when it was reserved before (a retry or a reuse)."""
        ...
