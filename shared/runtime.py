"""What a running process holds: the adapters chosen by the composition root, passed to services."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from opentelemetry.trace import Tracer

from leadrelay.shared.clock import Clock
from leadrelay.shared.group_commit import GroupCommit
from leadrelay.shared.metrics import Metrics
from leadrelay.shared.ports import Bus, Store
from leadrelay.shared.settings import Settings
from leadrelay.shared.tracing import NO_TRACER


def _nothing_to_flush() -> None:
    return None


@dataclass
class Runtime:
    settings: Settings
    store: Store
    bus: Bus
    metrics: Metrics
    clock: Clock  # the one clock; the store was built with the same one (``build_runtime``)
    # Spans start here: an exporting tracer when traces are on (``shell.telemetry``), else the no-op one.
    tracer: Tracer = NO_TRACER
    flush_traces: Callable[[], object] = _nothing_to_flush  # sends what the tracer still holds
    # Small independent writes of concurrent requests (idempotency reservations) share commits.
    small_writes: GroupCommit = field(init=False)

    def __post_init__(self) -> None:
        self.small_writes = GroupCommit(self.store)
