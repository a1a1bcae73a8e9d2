"""Events out: the transactional outbox. What a handler emits commits with its effects."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from leadrelay.shared.events import Envelope


class Outbox(Protocol):
    async def emit(self, envelope: Envelope) -> None: ...

    async def emit_many(self, envelopes: Sequence[Envelope]) -> None:
        """Emits many events in one statement (a scheduler batch)."""
        ...

    async def emit_raw(self, topic: str, key: str, payload: bytes, event_id: str) -> None:
        """Emits bytes as they are (a redriven or dead-lettered event)."""
        ...

    async def append_if_new(self, topic: str, key: str, payload: bytes, event_id: str) -> bool:
        """Appends unless an event with this id is there already (a retried publish); True if appended."""
        ...
