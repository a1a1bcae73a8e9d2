"""What a running process holds: the adapters chosen by the composition root, passed to services."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from shared.clock import system_clock
from shared.metrics import Metrics
from shared.ports import Bus, Store
from shared.settings import Settings


@dataclass
class Runtime:
    settings: Settings
    store: Store
    bus: Bus
    metrics: Metrics
    clock: Callable[[], datetime] = field(default=system_clock)
