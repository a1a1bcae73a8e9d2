"""The event bus port: a durable, partitioned log with consumer groups (Kafka, or the embedded log)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from leadrelay.shared.events import Envelope


class BusUnavailable(Exception):
    """The event log could not durably store an event; the caller must not claim it did."""


@dataclass(frozen=True)
class Delivery:
    """One message handed to a consumer. ``position`` is what committing it means to the bus.
    ``headers``: the record's headers on Kafka (the trace context, for one); none on the embedded log."""

    topic: str
    key: str
    payload: bytes
    partition: int
    offset: int
    headers: tuple[tuple[str, bytes], ...] = ()


class Subscription(Protocol):
    async def poll(self, max_records: int = 100, timeout_s: float = 1.0) -> list[Delivery]:
        """Returns the next deliveries for this group (possibly none after ``timeout_s``)."""
        ...

    async def commit(self, deliveries: Sequence[Delivery]) -> None:
        """Marks these deliveries consumed. Call only after their effects are committed."""
        ...

    async def lag(self) -> dict[int, int]:
        """Returns, per partition this member holds, how many events of its topics lie after its
        position (what ``poll`` has handed out), summed over the topics; the embedded log is one
        partition, 0. Empty before the first poll and while no partition is held; a partition
        whose position is not known yet (just assigned, not fetched) is left out until it is.
        Safe to call while a ``poll`` is in progress. Raises BusUnavailable when the log cannot
        be asked."""
        ...

    async def close(self) -> None: ...


class Bus(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def publish(self, envelope: Envelope) -> None:
        """Returns once the log has durably stored the event; raises BusUnavailable otherwise.

        Publishing an event id twice is harmless: consumers dedup on the id."""
        ...

    def subscribe(self, group: str, topics: Sequence[str]) -> Subscription:
        """A consumer-group subscription. On Kafka each delivery goes to one member of the group
        (partitions are split between members); the embedded log runs one member per group, and
        a second subscription of the group reads every event from the group's stored position."""
        ...
