"""Group commit: many callers' small writes share transactions, each caller answered only once
its own write is durable.

The writes queued while one round commits make the next round, so under load one commit (one
fsync) carries many writes, and when idle a write commits at once, alone: no timer, no added
latency. A round that fails fails every write in it (each caller gets the error; none may
believe it durable), and the next round starts afresh.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from leadrelay.shared.ports import Store, UnitOfWork

Write = Callable[[UnitOfWork], Awaitable[None]]


class GroupCommit:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._queued: list[tuple[Write, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def write(self, write: Write) -> None:
        """Runs ``write`` in a transaction shared with whatever else is queued; returns once it
        committed, raises what its round raised."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        # Retrieved even when the caller went away, so a failed round is not logged as unhandled.
        done.add_done_callback(lambda future: future.cancelled() or future.exception())
        self._queued.append((write, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_queued())
        # Shielded: a caller that goes away (a client disconnecting) must not cancel the round
        # that other callers' writes share.
        await asyncio.shield(done)

    async def _write_queued(self) -> None:
        while self._queued:
            batch, self._queued = self._queued, []
            try:
                async with self.store.transaction() as uow:
                    for write, _ in batch:
                        await write(uow)
            except Exception as exc:
                for _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
                continue
            for _, done in batch:
                if not done.done():
                    done.set_result(None)
