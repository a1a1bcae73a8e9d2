"""Policy versions: every applied document, numbered; the newest one routes new leads."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from leadrelay.shared.ports.records import PolicyVersionRecord

if TYPE_CHECKING:
    from leadrelay.shared.policy import Policy


class PolicyRepository(Protocol):
    async def current(self) -> tuple[int, Policy] | None:
        """The newest version; a document is parsed once per version per process."""
        ...

    async def get(self, version: int) -> Policy:
        """That version; raises LookupError when there is none."""
        ...

    async def document(self, version: int | None = None) -> tuple[int, str] | None:
        """(version, YAML text) of that version, or of the newest."""
        ...

    async def store(self, document: str, created_by: str | None = None) -> tuple[int, bool]:
        """Stores the document as a new version unless it equals the newest; (version, created)."""
        ...

    async def versions(self, limit: int = 100) -> list[PolicyVersionRecord]:
        """The newest ``limit`` versions, newest first, without their documents."""
        ...
