"""Time, the one way: aware UTC datetimes, read from one injected clock.

The composition root builds a ``Runtime`` with a clock (the system clock in production, a
test's fake clock in tests) and hands that same clock to the store and to every component that
stamps or compares a time. This module is the only place that reads the real time; an
architecture test holds every other module to that. Pure code takes ``now`` as an argument.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


def offset_clock(seconds: float) -> Clock:
    """The system clock shifted by ``seconds``: what a chaos run's "clock jumps an hour" is
    (LEADRELAY_CLOCK_OFFSET_S, applied when a process starts). Never in production."""
    shift = timedelta(seconds=seconds)

    def shifted() -> datetime:
        return system_clock() + shift

    return shifted


def as_utc(value: datetime | None) -> datetime | None:
    """SQLite hands datetimes back naive; every one we store is UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
