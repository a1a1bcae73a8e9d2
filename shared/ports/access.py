"""Who may call: lead sources (API keys) and bearer tokens, stored only as hashes; and the
single-use credentials (one-click action links, Slack's signed requests) already spent."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from leadrelay.shared.ports.records import SourceRecord, TokenRecord


class SourceRepository(Protocol):
    async def add(self, name: str, kind: str, key_hash: str, key_prefix: str, config: dict[str, Any]) -> None: ...

    async def by_name(self, name: str) -> SourceRecord | None:
        """The source, revoked or not."""
        ...

    async def by_key_hash(self, key_hash: str) -> SourceRecord | None:
        """The active (not revoked) source with this key."""
        ...

    async def list(self) -> list[SourceRecord]:
        """Every source, by name."""
        ...

    async def revoke(self, name: str) -> bool:
        """Refuses the source's key from now on; False when no active source has the name."""
        ...

    async def rotate_key(self, name: str, key_hash: str, key_prefix: str) -> bool:
        """Gives an active source a new key (the old one stops working when this commits);
        False when no active source has the name."""
        ...

    async def reuse(self, name: str, kind: str, key_hash: str, key_prefix: str, config: dict[str, Any]) -> bool:
        """Makes a revoked source's name a new, active source (its leads keep the name);
        False when no revoked source has the name."""
        ...


class TokenRepository(Protocol):
    async def add(self, token_hash: str, key_prefix: str, role: str, rep_id: str | None) -> None: ...

    async def by_hash(self, token_hash: str) -> TokenRecord | None:
        """The active (not revoked) token with this hash."""
        ...

    async def list(self) -> list[TokenRecord]:
        """Every token, revoked ones too, oldest first."""
        ...

    async def revoke(self, token_hash: str) -> bool:
        """Refuses the token from now on; False when it is unknown or revoked already."""
        ...

    async def spend_nonce(self, nonce: str, expires_at: datetime) -> bool:
        """Records a single-use credential (a one-click link's nonce, a Slack request's signature)
        as spent; False when it was spent before (a reused link, a replayed request). Of two
        transactions spending one nonce at once, one gets True. ``expires_at`` is when the
        credential is refused anyway: records past it (by an hour's grace) may be forgotten."""
        ...

    async def unspend_nonce(self, nonce: str) -> None:
        """Forgets a spent nonce whose action did not happen, so the link works again."""
        ...

    async def nonce_spent(self, nonce: str) -> bool:
        """Whether the nonce was spent (and is still remembered), without spending it."""
        ...
