"""The notifier consumer: turn assignments, SLA steps and leads handed back ("Not mine") into
queued chat deliveries.

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
    collision_note,
    language_of,
    lead_message,
    message_to_json,
    not_mine_note,
)
from leadrelay.shared.action_links import LinkSettings
from leadrelay.shared.events import Contract, Envelope, LeadActivity, LeadAssigned, SlaEvent
from leadrelay.shared.policy import ChatDestination, Policy
from leadrelay.shared.ports import DeliveryRepository, PolicyRepository, Transaction
from leadrelay.shared.tracing import TRACE_CONTEXT_KEY, annotate, current_trace_context

_SLA_KINDS = {"remind": "reminder", "escalate": "escalation", "breach": "escalation", "reassign": "reassigned",
              "recycle": "recycled", "offer_expired": "reassigned"}


def reader_of(policy: Policy | None, person_id: str) -> Reader:
    """A rep reads in their first language and their own time zone; a manager in their first
    language (English when the policy names none) and the policy's time zone."""
    if policy is None:
        return Reader(person_id)
    if policy.has_rep(person_id):
        rep = policy.rep(person_id)
        return Reader(person_id, language_of(rep.languages), policy.timezone_of(rep).key)
    manager = policy.manager(person_id)
    return Reader(person_id, language_of(manager.languages) if manager else "en", policy.timezone)


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
        rule=event.rule if event.reason in ("routed", "fallback", "held") else None,
        held_until=event.held_until if event.reason == "held" else None,
    )


class NotifierWork(Transaction, Protocol):
    """What the notifier touches in a unit of work: the policy (who reads what, where) and its
    own deliveries. The lead itself comes in the event."""

    policies: PolicyRepository
    deliveries: DeliveryRepository


class NotifierHandler:
    name: ClassVar[str] = "notifier"
    events: ClassVar[tuple[type[Contract], ...]] = (LeadAssigned, SlaEvent, LeadActivity)

    def __init__(self, base_url: str, wake_sender: Callable[[], None], links: LinkSettings | None = None) -> None:
        """``links``: how messages offer actions (signed links, Slack callbacks); without it they
        carry none."""
        self.base_url = base_url
        self.wake_sender = wake_sender
        self.links = links

    async def __call__(self, event: LeadAssigned | SlaEvent | LeadActivity, envelope: Envelope,
                       uow: NotifierWork) -> None:
        if isinstance(event, LeadActivity):
            if event.action == "collision":
                await self.collided(event, envelope, uow)
            else:
                await self.handed_back(event, envelope, uow)
            return
        if isinstance(event, LeadAssigned):
            kind = {"routed": "assigned", "claimed": "assigned", "fallback": "fallback",
                    "held": "held"}.get(event.reason, "reassigned")
            text = ""
            # Speed to lead counts the first message only: a reassignment or a claim happens
            # later by design, and timing it from the 202 would count it as a slow lead; so does
            # a lead held for the next shift.
            first = event.reason in ("routed", "fallback") and event.held_until is None
            received_at = event.received_at if first else None
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
        # Kept beside each message (not part of it) so the send joins this lead's trace.
        trace_context = current_trace_context()
        platforms = []
        for recipient in recipients:
            chat = policy.chat_for(recipient) if policy is not None else None
            message = lead_message(kind, lead, reader_of(policy, recipient), self.base_url,
                                   handover(policy, event, recipient), text,
                                   self.actions_for(chat, envelope, recipient))
            platforms.append(chat.platform if chat is not None else "none")
            stored = message_to_json(message) | ({TRACE_CONTEXT_KEY: trace_context} if trace_context else {})
            await uow.deliveries.add(
                dedup_key=f"{envelope.id}:{recipient}", lead_id=event.lead_id, recipient=recipient, kind=kind,
                platform=platforms[-1], message=stored, received_at=received_at,
            )
        annotate(message_kind=kind, recipients=list(recipients), platforms=platforms)
        uow.after_commit(self.wake_sender)

    async def handed_back(self, event: LeadActivity, envelope: Envelope, uow: NotifierWork) -> None:
        """A rep said "Not mine": their team's manager hears who, which lead and why, with Reassign
        to… and Open, as for an escalation. Other activities tell nobody."""
        if event.action != "not_mine" or event.lead is None:
            return
        current = await uow.policies.current()
        policy = current[1] if current is not None else None
        if policy is None or not policy.has_rep(event.actor):
            return
        manager = policy.manager_of(event.actor)
        chat = policy.chat_for(manager)
        reader = reader_of(policy, manager)
        message = lead_message("not_mine", LeadCard.from_summary(event.lead_id, event.lead), reader, self.base_url,
                               Handover(role="watcher", previous_owner=display_name(policy, event.actor), at=event.at),
                               not_mine_note(reader.language, event.reason), self.actions_for(chat, envelope, manager))
        trace_context = current_trace_context()
        stored = message_to_json(message) | ({TRACE_CONTEXT_KEY: trace_context} if trace_context else {})
        await uow.deliveries.add(dedup_key=f"{envelope.id}:{manager}", lead_id=event.lead_id, recipient=manager,
                                 kind="not_mine", platform=chat.platform if chat is not None else "none",
                                 message=stored, received_at=None)
        uow.after_commit(self.wake_sender)

    async def collided(self, event: LeadActivity, envelope: Envelope, uow: NotifierWork) -> None:
        """Another rep would have had a protected person's lead (撞单): the managers of both reps
        hear who, whose protection kept it and until when. The reps themselves are not told: the
        protecting rep has the lead's own message, the other the claim's refusal."""
        if event.collision is None or event.lead is None or event.to_rep is None:
            return
        current = await uow.policies.current()
        policy = current[1] if current is not None else None
        if policy is None:
            return
        managers = [policy.manager_of(rep) for rep in (event.to_rep, event.actor) if policy.has_rep(rep)]
        card = LeadCard.from_summary(event.lead_id, event.lead)
        other, owner = display_name(policy, event.actor) or event.actor, display_name(policy, event.to_rep) or event.to_rep
        trace_context = current_trace_context()
        for manager in dict.fromkeys(managers):
            chat = policy.chat_for(manager)
            reader = reader_of(policy, manager)
            message = lead_message("collision", card, reader, self.base_url,
                                   Handover(role="watcher", owner=owner, previous_owner=other, at=event.at),
                                   collision_note(reader.language, event.collision, other, owner, reader.timezone))
            stored = message_to_json(message) | ({TRACE_CONTEXT_KEY: trace_context} if trace_context else {})
            await uow.deliveries.add(dedup_key=f"{envelope.id}:{manager}", lead_id=event.lead_id, recipient=manager,
                                     kind="collision", platform=chat.platform if chat is not None else "none",
                                     message=stored, received_at=None)
        if managers:
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
