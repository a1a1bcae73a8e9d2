"""The consumer port: a handler declares the events it takes; the consumer loop validates each
event once and hands the handler the typed payload, inside the unit of work it commits."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Protocol

if TYPE_CHECKING:
    from leadrelay.shared.events import Contract, Envelope
    from leadrelay.shared.ports.store import UnitOfWork


class EventHandler(Protocol):
    """``events`` lists the payload types the handler takes; any other is dead-lettered.
    ``event`` is the envelope's validated payload; the envelope gives its id, key and correlation."""

    name: ClassVar[str]
    events: ClassVar[tuple[type[Contract], ...]]

    async def __call__(self, event: Any, envelope: Envelope, uow: UnitOfWork) -> None: ...
