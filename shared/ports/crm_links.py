"""Which lead a CRM record stands for: written when a CRM connector's write is delivered, read
when the CRM tells us about that record (its webhooks name only their own ids)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class CrmLinkRecord:
    crm: str  # the connector kind: "hubspot", "salesforce"
    record_id: str  # the CRM's id of the record (a HubSpot contact id, a Salesforce Lead id)
    lead_id: str
    linked_at: datetime


class CrmLinkRepository(Protocol):
    async def link(self, crm: str, record_id: str, lead_id: str) -> None:
        """The record stands for ``lead_id`` from now on (a HubSpot contact is a person, so their
        newest lead replaces the one before)."""
        ...

    async def get(self, crm: str, record_id: str) -> CrmLinkRecord | None: ...
