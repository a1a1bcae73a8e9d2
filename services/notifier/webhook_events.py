"""What subscribers hear: the lead's life as webhook events (pure).

``lead.assigned`` (an assignment, reassignment, claim or fallback queue), ``lead.activity`` (a rep's
or a CRM's action), ``lead.sla`` (a reminder, escalation, breach, reassignment by the clock, an
expired offer), ``lead.recycled`` (the clock sent the lead back to the pool), ``person.merged``
(the lead turned out to be a person we knew) and ``person.erased`` (a person's data was erased:
the subscriber erases what it copied of their leads). The event id is the id of the event it comes from,
so a redelivered event makes the same webhook (and the same ``webhook-id``).
"""

from __future__ import annotations

from typing import Any

from leadrelay.services.notifier.targets import OutgoingEvent
from leadrelay.shared.events import (
    Contract,
    Envelope,
    LeadActivity,
    LeadAssigned,
    LeadQualified,
    PersonErased,
    SlaEvent,
)

# Who-to-tell lists are the chat notifier's business, not a subscriber's.
_INTERNAL = {"notify"}


def outgoing_event(event: Contract, envelope: Envelope) -> OutgoingEvent | None:
    """The webhook event ``event`` makes, or None (a lead scored without a merge)."""
    data: dict[str, Any] = event.model_dump(mode="json", exclude=_INTERNAL)
    if isinstance(event, LeadAssigned):
        kind, occurred_at = "lead.assigned", event.assigned_at
    elif isinstance(event, SlaEvent):
        kind, occurred_at = ("lead.recycled" if event.step == "recycle" else "lead.sla"), event.fired_at
    elif isinstance(event, LeadActivity):
        kind, occurred_at = "lead.activity", event.at
    elif isinstance(event, LeadQualified):
        if event.duplicate_of is None:
            return None
        kind, occurred_at = "person.merged", envelope.time
        data = {"lead_id": event.lead_id, "person_id": event.person_id, "duplicate_of": event.duplicate_of,
                "source": event.source, "received_at": data["received_at"], "known_owner": event.known_owner}
    elif isinstance(event, PersonErased):
        # About a person, not one lead: its deliveries are ordered (and listed) under the person's id.
        return OutgoingEvent(id=envelope.id, type="person.erased", lead_id=event.person_id,
                             occurred_at=event.erased_at, data={"person_id": event.person_id,
                                                                "lead_ids": list(event.lead_ids),
                                                                "erased_at": data["erased_at"]})
    else:
        return None
    return OutgoingEvent(id=envelope.id, type=kind, lead_id=event.lead_id, occurred_at=occurred_at, data=data)
