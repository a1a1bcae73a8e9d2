"""The notifier consumer: turn assignments and SLA steps into queued chat deliveries.

The consumer only writes delivery rows (in its exactly-once transaction); the sender posts
them. A slow or rate-limited chat platform therefore never holds up the event line.
"""

from __future__ import annotations

from collections.abc import Callable

from services.notifier.messages import lead_message, message_to_json
from shared.events import Envelope, LeadAssigned, SlaEvent
from shared.ports import UnitOfWork

_SLA_KINDS = {"remind": "reminder", "escalate": "escalation", "breach": "escalation", "reassign": "reassigned",
              "recycle": "recycled", "offer_expired": "reassigned"}


class NotifierHandler:
    name = "notifier"

    def __init__(self, base_url: str, wake_sender: Callable[[], None]) -> None:
        self.base_url = base_url
        self.wake_sender = wake_sender

    async def __call__(self, envelope: Envelope, uow: UnitOfWork) -> None:
        event = envelope.payload()
        if isinstance(event, LeadAssigned):
            recipients = event.notify
            kind = {"routed": "assigned", "claimed": "assigned", "fallback": "fallback"}.get(event.reason, "reassigned")
            text = f"Rule: {event.rule}" if event.rule else ""
            received_at = event.received_at
        elif isinstance(event, SlaEvent):
            recipients = event.notify
            kind = _SLA_KINDS[event.step]
            text = event.detail
            received_at = None
        else:
            return
        lead = await uow.lead(event.lead_id)
        if lead is None or not recipients:
            return
        current = await uow.current_policy()
        platforms = {}
        if current is not None:
            platforms = {r: chat.platform for r in recipients if (chat := current[1].chat_for(r)) is not None}
        for recipient in recipients:
            message = lead_message(kind, lead, self.base_url, text)
            await uow.add_delivery(
                dedup_key=f"{envelope.id}:{recipient}", lead_id=event.lead_id, recipient=recipient, kind=kind,
                platform=platforms.get(recipient, "none"), message=message_to_json(message),
                received_at=received_at,
            )
        uow.after_commit(self.wake_sender)
