"""Dedup: merging a new lead into the person we already know.

Guarantees:
- ``merge_person`` is pure and deterministic: the same person, lead and ``at`` give the same
  result, and merging a lead that is already the person's last lead changes nothing, so a
  redelivered event cannot count a lead twice or rewrite the person.
- This module merges a lead into the person it is given: found by identity keys (exact, salted
  hashes of normalised email, phone, source + external id) or, when no key matches, by fuzzy
  matching on name and company (``matching.py``, which merges on its own only when nothing
  contradicts it: two colleagues named "Li Wei" at one company have two emails).

Field rule. A blank field (missing, or only whitespace) is filled by any lead that has a value.
A field the person already has keeps its first value, except the employer fields in
:data:`LATEST_WINS_FIELDS` (people change jobs), which take the value from the newest lead;
a lead older than what we already know (e.g. a CSV back-fill) never overwrites anything.
When the employer changes and the new lead gives no head count, the old head count is cleared:
it described the previous company and would otherwise inflate the new lead's score.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from leadrelay.shared.events import LeadContact

__all__ = [
    "CONTACT_FIELDS",
    "LATEST_WINS_FIELDS",
    "MergeResult",
    "PersonRecord",
    "merge_person",
]

# The LeadContact fields a person record keeps. Email and phone are deliberately absent: the
# person is known by their keys (hashes); the raw values stay with the lead they came in on.
CONTACT_FIELDS: tuple[str, ...] = (
    "name",
    "company",
    "title",
    "country",
    "region",
    "city",
    "industry",
    "employees",
    "language",
    "website",
)

# Facts about the current employer go stale when someone changes jobs; the rest of a person's
# contact details are about the person and rarely change, so the first value we saw stands.
LATEST_WINS_FIELDS = frozenset({"title", "company", "employees"})

@dataclass(frozen=True)
class PersonRecord:
    """The person behind one or more leads, as far as dedup knows them. Holds no email or phone."""

    person_id: str
    identity_keys: tuple[str, ...]
    first_seen_at: datetime
    last_seen_at: datetime
    lead_count: int
    last_lead_id: str
    owner: str | None = None
    name: str | None = field(default=None, repr=False)
    company: str | None = None
    title: str | None = None
    country: str | None = None
    region: str | None = None
    city: str | None = None
    industry: str | None = None
    employees: int | None = None
    language: str | None = None
    website: str | None = None
    # Whether they agreed to be contacted (for marketing), as their newest lead that said so
    # answered, and when (ISO 8601): a later "no" withdraws an earlier "yes".
    consent: bool | None = None
    consent_at: str | None = None


@dataclass(frozen=True)
class MergeResult:
    """``changed_fields`` names the contact fields that changed, plus ``identity_keys`` if any key
    was added; for a new person, the contact fields that have a value."""

    person: PersonRecord
    is_new: bool
    changed_fields: tuple[str, ...]


def merge_person(
    existing: PersonRecord | None,
    lead: LeadContact,
    *,
    lead_id: str,
    keys: tuple[str, ...],
    person_id_if_new: str,
    at: datetime,
) -> MergeResult:
    """Returns the person after this lead: a new one from the lead, or ``existing`` updated.

    ``at`` is when the lead was received (event time, not the processing clock), so replaying
    the same events rebuilds the same person. ``owner`` is never touched here: the router owns it.
    """
    incoming = {name: _value(getattr(lead, name)) for name in CONTACT_FIELDS}
    if existing is None:
        person = PersonRecord(
            person_id=person_id_if_new,
            identity_keys=tuple(dict.fromkeys(keys)),
            first_seen_at=at,
            last_seen_at=at,
            lead_count=1,
            last_lead_id=lead_id,
            **incoming,
            **_consent(lead, at),
        )
        filled = tuple(name for name in CONTACT_FIELDS if incoming[name] is not None)
        return MergeResult(person=person, is_new=True, changed_fields=filled)

    if lead_id == existing.last_lead_id:
        return MergeResult(person=existing, is_new=False, changed_fields=())

    is_newest = at >= existing.last_seen_at
    updates: dict[str, Any] = {}
    for name in CONTACT_FIELDS:
        current, new = getattr(existing, name), incoming[name]
        if new is None or new == current:
            continue
        if current is None or (is_newest and name in LATEST_WINS_FIELDS):
            updates[name] = new
    if (
        "company" in updates
        and existing.company is not None
        and existing.employees is not None
        and incoming["employees"] is None
        and not _same_text(existing.company, updates["company"])
    ):
        updates["employees"] = None

    if lead.consent is not None and (
            existing.consent_at is None or at >= datetime.fromisoformat(existing.consent_at)):
        updates.update(_consent(lead, at))
    keys_union = tuple(dict.fromkeys((*existing.identity_keys, *keys)))
    changed = tuple(name for name in CONTACT_FIELDS if name in updates)
    if keys_union != existing.identity_keys:
        changed += ("identity_keys",)

    person = replace(
        existing,
        **updates,
        identity_keys=keys_union,
        first_seen_at=min(existing.first_seen_at, at),
        last_seen_at=max(existing.last_seen_at, at),
        lead_count=existing.lead_count + 1,
        last_lead_id=lead_id,
    )
    return MergeResult(person=person, is_new=False, changed_fields=changed)


def _consent(lead: LeadContact, at: datetime) -> dict[str, Any]:
    return {} if lead.consent is None else {"consent": lead.consent, "consent_at": at.isoformat()}


def _value(raw: str | int | None) -> Any:
    """Returns the value with surrounding whitespace removed, or None when there is nothing."""
    if isinstance(raw, str):
        return raw.strip() or None
    return raw


def _same_text(a: str, b: str) -> bool:
    """Case- and spacing-insensitive equality: "ACME  Inc" is the same employer as "Acme Inc"."""
    return " ".join(a.casefold().split()) == " ".join(b.casefold().split())
