"""What a running process holds: the adapters chosen by the composition root, passed to services."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from shared.adapters.sql_store import SqlStore
from shared.metrics import Metrics
from shared.ports import Bus
from shared.settings import Settings


def system_clock() -> datetime:
    return datetime.now(UTC)


@dataclass
class Runtime:
    settings: Settings
    store: SqlStore
    bus: Bus
    metrics: Metrics
    clock: Callable[[], datetime] = field(default=system_clock)
