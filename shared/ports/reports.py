"""Reads for reports: what a period's leads went through, in a handful of queries whatever
their number (never one query per lead)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from leadrelay.shared.ports.records import LeadJourney

# The history kinds a journey carries. Given to an owner: routed ("assigned"), offered again after
# a lapsed offer ("offered"), reassigned by a manager or the SLA ladder ("reassigned"), claimed
# from the pool ("claimed"); then the rep's actions.
ASSIGNMENT_KINDS = ("assigned", "offered", "reassigned", "claimed")
ACTION_KINDS = ("accepted", "contacted", "converted", "lost")
FUNNEL_MILESTONES = ASSIGNMENT_KINDS + ACTION_KINDS


class ReportRepository(Protocol):
    async def funnel_leads(self, since: datetime, until: datetime) -> list[LeadJourney]:
        """Every lead received in ``[since, until)`` (aware datetimes), oldest first (then by id),
        with its ``FUNNEL_MILESTONES`` history entries (in the order they were written) and its
        first-touch SLA facts. Reads only the columns the funnel needs."""
        ...
