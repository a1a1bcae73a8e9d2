"""The loop both senders run (chat deliveries, webhook deliveries): a pass over what is due, then
a wait for a wake-up or half a second when the pass sent nothing."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import httpx

log = logging.getLogger(__name__)

IDLE_WAIT_S = 0.5


async def run_passes(send_due: Callable[[], Awaitable[int]], wakeup: asyncio.Event, stop: asyncio.Event,
                     http: httpx.AsyncClient, what: str) -> None:
    """Runs ``send_due`` until ``stop``; a failed pass is logged and the next one tries again.
    Closes ``http`` at the end."""
    try:
        while not stop.is_set():
            wakeup.clear()  # before the pass, so a wake-up during it is not lost
            try:
                sent = await send_due()
            except Exception as exc:
                log.warning(f"{what} pass failed", extra={"error": type(exc).__name__})
                sent = 0
            if sent == 0:
                try:
                    await asyncio.wait_for(wakeup.wait(), timeout=IDLE_WAIT_S)
                except TimeoutError:
                    pass
    finally:
        await http.aclose()
