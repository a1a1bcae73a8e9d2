"""What a CRM tells us about a lead we synced to it, worked here as if the rep had acted (``via``
``crm``): the lead a CRM record is linked to, and recording the activities a change stands for
(crm_changes.py). Shared by HubSpot's webhooks (hubspot_api.py) and Salesforce's outbound
messages (salesforce_api.py)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Literal

from leadrelay.services.router.crm_changes import CrmActivity
from leadrelay.services.router.work import ActivityIn, record_activity
from leadrelay.shared.clock import Clock
from leadrelay.shared.metrics import Metrics
from leadrelay.shared.policy import Policy
from leadrelay.shared.ports import LeadRecord, Store
from leadrelay.shared.problems import Conflict, InvalidField, NotFound
from leadrelay.shared.security import Principal

log = logging.getLogger(__name__)


async def linked_lead(store: Store, system: str, crm_id: str) -> tuple[LeadRecord, Policy] | None:
    """The lead a CRM record stands for and the current policy; None for a record we never wrote."""
    async with store.read() as uow:
        link = await uow.crm_links.get(system, crm_id)
        lead = await uow.leads.get(link.lead_id) if link is not None else None
        current = await uow.policies.current()
    if lead is None or current is None:
        return None
    return lead, current[1]


async def record_crm_activities(store: Store, clock: Clock, metrics: Metrics, system: str, lead_id: str,
                                activities: Iterable[CrmActivity]) -> Literal["recorded", "refused"]:
    """Records each activity; ``refused`` when the lead's state did not allow one (already closed,
    say). One refusal never stops the others."""
    actor = Principal(role="integration", name=system)
    outcome: Literal["recorded", "refused"] = "recorded"
    for activity in activities:
        try:
            await record_activity(store, clock, metrics, actor, lead_id,
                                  ActivityIn(action=activity.action, reason=activity.reason, to_rep=activity.to_rep),
                                  via="crm")
        except (Conflict, NotFound, InvalidField) as refused:
            log.info("crm change not recorded", extra={"system": system, "lead_id": lead_id, "detail": refused.detail})
            outcome = "refused"
    return outcome
