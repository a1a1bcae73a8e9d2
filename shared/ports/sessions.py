"""The web console's sign-in sessions: a bearer token exchanged once for a session cookie.

Only the cookie's hash is stored (like tokens). A session keeps the token's hash, not its role:
who the session is, and whether it still may be anyone, is read from the token on every request,
so revoking the token ends its sessions at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class ConsoleSessionRecord:
    session_hash: str
    token_hash: str
    lang: str | None  # the language the person picked in the console; None: the browser's
    created_at: datetime
    last_seen_at: datetime


class ConsoleSessionRepository(Protocol):
    async def add(self, session_hash: str, token_hash: str, lang: str | None) -> None:
        """A new session, created and last seen now."""
        ...

    async def get(self, session_hash: str) -> ConsoleSessionRecord | None: ...

    async def touch(self, session_hash: str) -> None:
        """Marks the session as seen now (its idle time starts again)."""
        ...

    async def set_lang(self, session_hash: str, lang: str | None) -> None: ...

    async def delete(self, session_hash: str) -> bool:
        """Ends the session (sign-out); False when there was none."""
        ...

    async def forget_older(self, created_before: datetime, seen_before: datetime) -> int:
        """Deletes the sessions created before ``created_before`` or last seen before
        ``seen_before`` (both past any limit: they can no longer be used); how many."""
        ...
