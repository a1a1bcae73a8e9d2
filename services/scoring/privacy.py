"""Access and erasure requests (PIPL, GDPR) as use cases: find a person by email or phone (through
their identity keys, never by comparing addresses), export everything we hold on them, erase them.
The admin API and the CLI both call these; they take ports, never a request.

Erasure keeps the lead rows (state, owner, times, source, score, grade) so reports still count
them, and turns every personal value into a tombstone (``shared/erasure.py`` says which): the
person record, each lead's contact, history, decisions, deliveries, the merges, and the events of
the embedded log. The person's identity keys are deleted, so a later lead from them makes a new
person. A ``person.erased`` event tells downstream systems to follow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from leadrelay.shared.clock import Clock, as_utc
from leadrelay.shared.erasure import erased_person_data, is_erased, personal_values
from leadrelay.shared.events import Envelope, PersonErased, new_id
from leadrelay.shared.identity import InvalidContact, identity_keys, normalise_email, normalise_phone
from leadrelay.shared.ports import LeadRecord, Store, StoredPerson, UnitOfWork
from leadrelay.shared.problems import InvalidField, NotFound

# A person's leads read at once; far more than anyone sends.
MAX_LEADS = 100_000


@dataclass(frozen=True)
class Erasure:
    person_id: str
    erased_at: str
    lead_ids: list[str]
    events: int  # events tombstoned now (0 when the person was erased already)
    already: bool


def iso(value: Any) -> str | None:
    value = as_utc(value)
    return value.isoformat() if value else None


def person_summary(person: StoredPerson) -> dict[str, Any]:
    """A person as a search answers: no personal value, only what to act on."""
    return {"person_id": person.person_id, "erased": is_erased(person.data), "lead_count": person.lead_count,
            "owner": person.owner, "first_seen_at": iso(person.first_seen_at), "last_seen_at": iso(person.last_seen_at)}


async def find_people(store: Store, salt: str, *, email: str | None = None, phone: str | None = None,
                      country: str | None = None) -> list[StoredPerson]:
    """The people this email or phone belongs to (both: either). Raises InvalidField naming the
    field for a value that does not normalise, or when neither is given."""
    email, phone = (email or "").strip(), (phone or "").strip()
    if not email and not phone:
        raise InvalidField("Send an email or a phone.", errors=[{"field": "email", "reason": "email or phone required"}])
    try:
        email_norm = normalise_email(email) if email else None
        phone_norm = normalise_phone(phone, (country or "").strip() or None) if phone else None
    except InvalidContact as exc:
        raise InvalidField(f"Invalid {exc.field}: {exc.reason}", errors=[{"field": exc.field, "reason": exc.reason}]
                           ) from None
    keys = [key for key in identity_keys(email_norm, phone_norm, "", None, salt) if not key.startswith("x:")]
    async with store.read() as uow:
        found = [await uow.people.get(person_id) for person_id in await uow.people.ids_for_keys(keys)]
    return [person for person in found if person is not None]


async def _person(uow: UnitOfWork, person_id: str, *, lock: bool = False) -> StoredPerson:
    person = await uow.people.get(person_id, lock=lock)
    if person is None:
        raise NotFound(f"No person {person_id}.")
    return person


async def export_person(store: Store, clock: Clock, person_id: str) -> dict[str, Any]:
    """Everything we hold on the person: their record and consent, each lead with its contact,
    history, routing decisions, the chat messages and webhook payloads sent about it, and the
    merges they took part in. Raises NotFound."""
    async with store.read() as uow:
        person = await _person(uow, person_id)
        leads = await uow.leads.of_persons([person_id], limit=MAX_LEADS)
        exported = [await _lead_export(uow, lead) for lead in leads]
        merges = await uow.privacy.merges_of(person_id)
    data = dict(person.data)
    return {
        "person_id": person_id,
        "exported_at": clock().isoformat(),
        "erased": is_erased(data),
        "person": {"data": data, "owner": person.owner, "lead_count": person.lead_count,
                   "first_seen_at": iso(person.first_seen_at), "last_seen_at": iso(person.last_seen_at)},
        "consent": {"consent": data.get("consent"), "consent_at": data.get("consent_at"),
                    "by_lead": [{"lead_id": lead.lead_id, "consent": (lead.contact or {}).get("consent"),
                                 "received_at": iso(lead.received_at)} for lead in leads]},
        "leads": exported,
        "merges": [{"merge_id": m.merge_id, "kind": m.kind, "person_id": m.person_id,
                    "from_person_id": m.from_person_id, "lead_ids": m.lead_ids, "person_before": m.person_before,
                    "merged_at": iso(m.merged_at), "merged_by": m.merged_by, "undone_at": iso(m.undone_at)}
                   for m in merges],
    }


async def _lead_export(uow: UnitOfWork, lead: LeadRecord) -> dict[str, Any]:
    return {
        "lead_id": lead.lead_id, "source": lead.source, "received_at": iso(lead.received_at),
        "contact": lead.contact, "status": lead.state, "owner": lead.owner, "team": lead.team, "queue": lead.queue,
        "score": lead.score, "grade": lead.grade, "score_reasons": lead.reasons or [],
        "duplicate_of": lead.duplicate_of, "assigned_at": iso(lead.assigned_at), "closed_at": iso(lead.closed_at),
        "history": [{"at": iso(h.at), "kind": h.kind, "detail": h.detail} for h in await uow.leads.history(lead.lead_id)],
        "decisions": [{"decided_at": iso(d.decided_at), "rule": d.rule, "owner": d.owner, "queue": d.queue,
                       "explanation": d.explanation} for d in await uow.leads.decisions(lead.lead_id)],
        "notifications": [{"recipient": d.recipient, "platform": d.platform, "kind": d.kind, "state": d.state,
                           "message": d.message, "sent_at": iso(d.sent_at)}
                          for d in await uow.deliveries.for_lead(lead.lead_id)],
        "webhooks": [{"subscription": w.subscription_id, "event": w.event_type, "state": w.state,
                      "payload": w.payload, "delivered_at": iso(w.delivered_at)}
                     for w in await uow.webhook_deliveries.for_lead(lead.lead_id)],
    }


async def erase_person(store: Store, clock: Clock, person_id: str, by: str) -> Erasure:
    """Erases the person's personal data everywhere, in one transaction, and emits
    ``person.erased``. Erasing them again changes nothing and emits nothing. Raises NotFound."""
    async with store.transaction() as uow:
        person = await _person(uow, person_id, lock=True)
        leads = await uow.leads.of_persons([person_id], limit=MAX_LEADS)
        lead_ids = sorted(lead.lead_id for lead in leads)
        if is_erased(person.data):
            return Erasure(person_id, str(person.data.get("erased_at")), lead_ids, 0, already=True)
        now = clock()
        keys = set(await uow.people.keys_of(person_id)) | {lead.identity_key for lead in leads}
        values = personal_values([person.data, *(lead.contact or {} for lead in leads)])
        events = await uow.privacy.erase_events(sorted(keys))
        await uow.privacy.erase_leads(lead_ids, values)
        for lead_id in lead_ids:  # nobody is to be reminded to call someone we no longer know how to reach
            await uow.clocks.cancel(lead_id)
        await uow.privacy.erase_person(person_id, erased_person_data(now.isoformat(), person.data), values)
        erased = PersonErased(person_id=person_id, lead_ids=lead_ids, erased_at=now, by=by)
        await uow.outbox.emit(Envelope.wrap(erased, source="leadrelay/privacy", subject=person_id, key=person_id,
                                            correlation_id=new_id(), time=now))
    async with store.read() as uow:
        await uow.privacy.drop_old_versions()
    return Erasure(person_id, now.isoformat(), lead_ids, events, already=False)
