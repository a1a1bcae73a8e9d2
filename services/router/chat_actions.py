"""Acting from chat: a Slack button or a signed one-click link does what the API does, as the rep
(or manager) it names, with the API's rules: a lead outside that person's reach is 404, a state
the action cannot start from is 409. Accept, Contacted and a manager's Reassign are the API's
``record_activity``; "Not mine" hands the lead back to its team's pool (``recycle``).

Use cases over the ports, like ``work``: the routes (``chat_api``) translate requests into them.
Each action emits the API's ``lead.activity`` event, with ``via`` saying where it came from.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Literal

from leadrelay.services.router.assignment import POOL_QUEUE, recycle, summary_of
from leadrelay.services.router.work import (
    ActivityIn,
    actor_of,
    can_see,
    current_policy,
    found,
    record_activity,
)
from leadrelay.shared.action_links import ActionLink
from leadrelay.shared.clock import Clock
from leadrelay.shared.events import Envelope, LeadActivity
from leadrelay.shared.metrics import Metrics
from leadrelay.shared.policy import Policy
from leadrelay.shared.ports import LeadRecord, Store
from leadrelay.shared.problems import Conflict, Forbidden, InvalidField, NotFound
from leadrelay.shared.security import Principal

log = logging.getLogger(__name__)

Via = Literal["slack", "link"]

# A rep may hand back a lead they have not worked yet (accepted is fine: they may find out on
# reading it); once contacted it is theirs to convert or lose.
NOT_MINE_FROM = ("offered", "assigned", "accepted")
# Why a lead is not the rep's: what managers look for when they fix the policy. ``other`` needs a note.
NOT_MINE_REASONS = ("wrong_territory", "wrong_product", "existing_customer", "not_a_lead", "other")
MAX_NOTE_CHARS = 300


def principal_of(policy: Policy, person_id: str) -> Principal | None:
    """The person a link or a Slack user stands for, as the API would see their token: a rep of
    the current policy, else a manager of it; None for someone it no longer names."""
    if policy.has_rep(person_id):
        return Principal(role="rep", name=person_id, rep_id=person_id)
    if policy.manager(person_id) is not None:
        return Principal(role="manager", name=person_id, rep_id=person_id)
    return None


def slack_person(policy: Policy, user_id: str) -> str | None:
    """The rep or manager whose Slack chat destination names ``user_id`` (``chat.user_id``)."""
    for person in (*policy.reps, *policy.managers):
        chat = person.chat
        if chat is not None and chat.platform == "slack" and chat.user_id == user_id:
            return person.id
    return None


def not_mine_reason(code: str | None, note: str | None) -> str:
    """The reason stored for "Not mine": one of NOT_MINE_REASONS, with the rep's note if any;
    raises InvalidField for another code, or ``other`` without a note."""
    note = " ".join((note or "").split())[:MAX_NOTE_CHARS]
    if code not in NOT_MINE_REASONS:
        raise InvalidField("Say why the lead is not yours.", errors=[{"field": "reason", "reason": "unknown reason"}])
    if code == "other" and not note:
        raise InvalidField("Say why the lead is not yours.", errors=[{"field": "note", "reason": "required for other"}])
    return f"{code}: {note}" if note else code


async def act(store: Store, clock: Clock, metrics: Metrics, person_id: str, lead_id: str, action: str, *, via: Via,
              reason: str | None = None, to_rep: str | None = None) -> LeadRecord:
    """``person_id`` does ``action`` on the lead, as their API token would. Returns the lead as it
    is afterwards; raises the API's problems (NotFound, Conflict, Forbidden, InvalidField)."""
    async with store.read() as uow:
        _, policy = await current_policy(uow)
    principal = principal_of(policy, person_id)
    if principal is None:  # no longer in the policy: nothing is theirs, as for an unknown lead
        raise NotFound(f"No lead {lead_id} that you can see.")
    if action == "not_mine":
        return await hand_back(store, clock, metrics, principal, lead_id, reason, via=via)
    return await record_activity(store, clock, metrics, principal, lead_id,
                                 ActivityIn(action=action, reason=reason, to_rep=to_rep), via=via)  # type: ignore[arg-type]


async def hand_back(store: Store, clock: Clock, metrics: Metrics, principal: Principal, lead_id: str,
                    reason: str | None, *, via: Via | Literal["api", "console"] = "api") -> LeadRecord:
    """"Not mine": the rep returns their lead to its team's pool (公海), with why, for someone
    else to claim (``recycle``: clocks stopped, the rep's load down, and the rep waits out the
    pool's cooldown before claiming it back). One transaction, with the ``lead.activity`` event."""
    if principal.role != "rep":
        raise Forbidden("Only the lead's rep can hand it back.", errors=[{"field": "action", "reason": "needs a rep"}])
    if not reason:
        raise InvalidField("Say why the lead is not yours.", errors=[{"field": "reason", "reason": "required"}])
    now = clock()
    async with store.transaction() as uow:
        lead = await uow.leads.get(lead_id, lock=True)
        if lead is None or not await can_see(uow, principal, lead):
            raise NotFound(f"No lead {lead_id} that you can see.")
        _, policy = await current_policy(uow)
        if lead.state not in NOT_MINE_FROM:
            raise Conflict(f"A lead that is '{lead.state}' cannot be handed back.",
                           errors=[{"field": "action", "reason": f"not allowed from state {lead.state}"}])
        actor = actor_of(principal)
        await recycle(uow, policy, lead, now, f"not mine ({actor}): {reason}")
        await uow.leads.add_history(lead_id, "not_mine", {"by": actor, "reason": reason, "via": via}, at=now)
        # The lead's summary rides along: the notifier tells the rep's manager, reading no router table.
        activity = LeadActivity(lead_id=lead_id, actor=actor, action="not_mine", reason=reason, at=now, via=via,
                                lead=summary_of(lead, queue=POOL_QUEUE))
        await uow.outbox.emit(Envelope.wrap(activity, source="leadrelay/api", subject=lead_id, key=lead.identity_key,
                                            correlation_id=lead.correlation_id, time=now))
        uow.after_commit(lambda: metrics.activities.labels("not_mine").inc())
    async with store.read() as uow:
        return await found(uow, lead_id)


class LinkSpent(Exception):
    """The link was used before (its action happened, or is happening now)."""


async def act_by_link(store: Store, clock: Clock, metrics: Metrics, link: ActionLink, **form: Any) -> LeadRecord:
    """Does what a verified link says, once: its nonce is spent first (a second POST of the link,
    even at the same moment, raises LinkSpent), and given back if the action did not happen, so
    a refused attempt (a rep to choose again, a moment the database was away) can be retried."""
    nonce = f"link:{link.nonce}"
    if not await spend(store, nonce, link.expires_at):
        raise LinkSpent(link.nonce)
    try:
        return await act(store, clock, metrics, link.person, link.lead_id, link.action, via="link", **form)
    except Exception:
        try:
            async with store.transaction() as uow:
                await uow.tokens.unspend_nonce(nonce)
        except Exception as exc:  # the database went away meanwhile: the link stays spent, nothing else changed
            log.warning("could not give a link's nonce back", extra={"lead_id": link.lead_id,
                                                                     "error": type(exc).__name__})
        raise


async def spend(store: Store, nonce: str, expires_at: datetime) -> bool:
    """Spends a single-use credential; False when it was spent before."""
    async with store.transaction() as uow:
        return await uow.tokens.spend_nonce(nonce, expires_at)


async def is_spent(store: Store, nonce: str) -> bool:
    """Whether a link's nonce was spent, without spending it (a GET changes nothing)."""
    async with store.read() as uow:
        return await uow.tokens.nonce_spent(f"link:{nonce}")
