"""What a running process holds: the adapters chosen by the composition root, passed to services."""

from __future__ import annotations

from dataclasses import dataclass

from leadrelay.shared.clock import Clock
from leadrelay.shared.metrics import Metrics
from leadrelay.shared.ports import Bus, Store
from leadrelay.shared.settings import Settings


@dataclass
class Runtime:
    settings: Settings
    store: Store
    bus: Bus
    metrics: Metrics
    clock: Clock  # the one clock; the store was built with the same one (``build_runtime``)
