"""The ports the services depend on. Adapters implement them; services never import an adapter."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from shared.events import Envelope


class RetryLater(Exception):
    """The event is fine but cannot be handled yet (e.g. no policy applied): wait, never dead-letter."""


class BusUnavailable(Exception):
    """The event log could not durably store an event; the caller must not claim it did."""


@dataclass(frozen=True)
class Delivery:
    """One message handed to a consumer. ``position`` is what committing it means to the bus."""

    topic: str
    key: str
    payload: bytes
    partition: int
    offset: int


class Subscription(Protocol):
    async def poll(self, max_records: int = 100, timeout_s: float = 1.0) -> list[Delivery]:
        """Returns the next deliveries for this group (possibly none after ``timeout_s``)."""

    async def commit(self, deliveries: Sequence[Delivery]) -> None:
        """Marks these deliveries consumed. Call only after their effects are committed."""

    async def close(self) -> None: ...


class Bus(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def publish(self, envelope: Envelope) -> None:
        """Returns once the log has durably stored the event; raises BusUnavailable otherwise.

        Publishing an event id twice is harmless: consumers dedup on the id."""

    def subscribe(self, group: str, topics: Sequence[str]) -> Subscription:
        """A consumer-group subscription; each delivery goes to one member of the group."""
