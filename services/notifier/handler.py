"""The notifier consumer: turn assignments and SLA steps into queued chat deliveries.

The consumer only writes delivery rows (in its exactly-once transaction); the sender posts
them. A slow or rate-limited chat platform therefore never holds up the event line.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar, Protocol

from leadrelay.services.notifier.messages import (
    Actions,
    Handover,
    LeadCard,
    Reader,
    Role,
    language_of,
    lead_message,
    message_to_json,
)
from leadrelay.shared.action_links import LinkSettings
from leadrelay.shared.events import Contract, Envelope, LeadAssigned, SlaEvent
from leadrelay.shared.policy import ChatDestination, Policy
from leadrelay.shared.ports import DeliveryRepository, PolicyRepository, Transaction

_SLA_KINDS = {"remind": "reminder", "escalate": "escalation", "breach": "escalation", "reassign": "reassigned",
              "recycle": "recycled", "offer_expired": "reassigned"}


def reader_of(policy: Policy | None, person_id: str) -> Reader:
    """A rep reads in their first language and their own time zone; a manager in English and the
    policy's time zone."""
    if policy is None:
        return Reader(person_id)
    if policy.has_rep(person_id):
        rep = policy.rep(person_id)
        return Reader(person_id, language_of(rep.languages), policy.timezone_of(rep).key)
    return Reader(person_id, "en", policy.timezone)


def display_name(policy: Policy | None, person_id: str | None) -> str | None:
    if person_id is None or policy is None:
        return person_id
    person = policy.rep(person_id) if policy.has_rep(person_id) else policy.manager(person_id)
    return person.name if person is not None and person.name else person_id


def handover(policy: Policy | None, event: LeadAssigned | SlaEvent, recipient: str) -> Handover:
    """What the event says about the lead's change of hands, from ``recipient``'s side."""
    role: Role = "owner" if recipient == event.owner else "watcher"
    if not isinstance(event, LeadAssigned):
        # An escalation tells the manager whose lead it is; after a recycle nobody owns it.
        owner = event.owner if event.step in ("remind", "escalate", "breach") else None
        return Handover(role=role, owner=display_name(policy, owner), at=event.fired_at)
    if event.previous_owner and recipient == event.previous_owner and recipient != event.owner:
        role = "previous_owner"
    return Handover(
        role=role, owner=display_name(policy, event.owner),
        # Only a reassignment comes "from" someone; a pool claim's previous owner is history.
        previous_owner=display_name(policy, event.previous_owner) if event.reason == "reassigned" else None,
        backup_for=display_name(policy, event.backup_for), first_touch_due_at=event.first_touch_due_at,
        first_touch_target=event.first_touch_target, at=event.assigned_at,
        rule=event.rule if event.reason in ("routed", "fallback") else None,
    )


class NotifierWork(Transaction, Protocol):
    """What the notifier touches in a unit of work: the policy (who reads what, where) and its
    own deliveries. The lead itself comes in the event."""

    policies: PolicyRepository
    deliveries: DeliveryRepository


class NotifierHandler:
    name: ClassVar[str] = "notifier"
    events: ClassVar[tuple[type[Contract], ...]] = (LeadAssigned, SlaEvent)

    def __init__(self, base_url: str, wake_sender: Callable[[], None], links: LinkSettings | None = None) -> None:
        """``links``: how messages offer actions (signed links, Slack callbacks); without it they
        carry none."""
        self.base_url = base_url
        self.wake_sender = wake_sender
        self.links = links

    async def __call__(self, event: LeadAssigned | SlaEvent, envelope: Envelope, uow: NotifierWork) -> None:
        if isinstance(event, LeadAssigned):
            kind = {"routed": "assigned", "claimed": "assigned", "fallback": "fallback"}.get(event.reason, "reassigned")
            text = ""
            # Speed to lead counts the first message only: a reassignment or a claim happens
            # later by design, and timing it from the 202 would count it as a slow lead.
            received_at = event.received_at if event.reason in ("routed", "fallback") else None
        else:
            kind = _SLA_KINDS[event.step]
            text = event.detail
            received_at = None
        recipients = event.notify
        if not recipients:
            return
        lead = LeadCard.from_summary(event.lead_id, event.lead)
        current = await uow.policies.current()
        policy = current[1] if current is not None else None
        for recipient in recipients:
            chat = policy.chat_for(recipient) if policy is not None else None
            message = lead_message(kind, lead, reader_of(policy, recipient), self.base_url,
                                   handover(policy, event, recipient), text,
                                   self.actions_for(chat, envelope, recipient))
            await uow.deliveries.add(
                dedup_key=f"{envelope.id}:{recipient}", lead_id=event.lead_id, recipient=recipient, kind=kind,
                platform=chat.platform if chat is not None else "none", message=message_to_json(message),
                received_at=received_at,
            )
        uow.after_commit(self.wake_sender)

    def actions_for(self, chat: ChatDestination | None, envelope: Envelope, recipient: str) -> Actions | None:
        """Links expire a day after the event (its time, not the clock: a redelivered event makes
        the same message); Slack buttons call back when the app is set up and the policy knows the
        reader's Slack user, so a click can be told apart from a colleague's."""
        if self.links is None:
            return None
        callbacks = (self.links.slack_callbacks and chat is not None and chat.platform == "slack"
                     and chat.user_id is not None)
        return Actions(secret=self.links.secret, public_url=self.links.public_url,
                       expires_at=envelope.time + self.links.ttl, seed=f"{envelope.id}:{recipient}",
                       callbacks=callbacks)
