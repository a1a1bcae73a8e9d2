"""Redriving dead letters: the event goes back on its topic, and only the consumer that gave
up forgets it processed it; every other consumer still has its id and skips it."""

from __future__ import annotations

from collections.abc import Sequence

from leadrelay.shared.adapters.sql.store import SqlStore
from leadrelay.shared.events import Envelope


def key_of(payload: bytes, default: str) -> str:
    """The event's own partition key, so a redriven event keeps its place in the person's order."""
    try:
        return Envelope.from_bytes(payload).key
    except ValueError:
        return default


async def redrive(store: SqlStore, ids: Sequence[int] | None = None) -> int:
    async with store.transaction() as uow:
        letters = [row for row in await uow.inbox.dead_letters() if not ids or row.id in ids]
        for letter in letters:
            if letter.event_id:
                await uow.inbox.forget(letter.consumer, letter.event_id)
            await uow.outbox.emit_raw(letter.topic, key_of(bytes(letter.payload), f"redrive:{letter.id}"),
                               bytes(letter.payload), f"redrive:{letter.id}")
            await uow.inbox.mark_redriven(letter.id)
    return len(letters)
