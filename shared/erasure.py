"""Erasure (PIPL art. 47, GDPR art. 17): which of a person's data is personal, and what a record
keeps once they are erased. Pure: no I/O, no clock.

Guarantees:
- ``tombstone_contact`` keeps only the facts reports group by and that say nothing about who
  someone is on their own (country, region, industry, head count, language, the campaign, the
  consent flag), and marks the contact ``{"erased": true}``. Name, email, phone, company, title,
  city, website, free attributes and the free-text campaign fields are dropped.
- ``scrubbed`` replaces every occurrence of a personal value (any case) inside any string of a
  JSON value, keeping its shape: a history entry stays a history entry of the same kind.
- An erased event's payload is ``event_tombstone(id)``: the row stays in the log (offsets and
  ``seq`` stay valid), and a consumer recognises it with ``is_event_tombstone`` and skips it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import orjson
import phonenumbers

from leadrelay.shared.identity import InvalidContact, normalise_email, normalise_phone

__all__ = [
    "ERASED",
    "KEPT_CONTACT_FIELDS",
    "erased_person_data",
    "event_tombstone",
    "is_erased",
    "is_event_tombstone",
    "personal_values",
    "scrubbed",
    "tombstone_contact",
]

ERASED = "[erased]"

# What an erased lead's contact keeps, and why each is not personal: reports count leads by
# country, region, industry, company size, language and campaign; none names or reaches anyone.
# The consent flag is kept as the record of what the person had agreed to.
KEPT_CONTACT_FIELDS = ("country", "region", "industry", "employees", "language", "utm_source", "utm_medium",
                       "utm_campaign", "consent")

# The contact fields whose values are searched for (and scrubbed) in the rest of a person's data.
_PERSONAL_FIELDS = ("email", "phone", "name", "company", "title", "website")
# Shorter values would scrub unrelated text ("Li" in "Lima"); Chinese names have two characters.
_MIN_CHARS = 2

_TOMBSTONE_PREFIX = b'{"erased":true'


def tombstone_contact(contact: Mapping[str, Any]) -> dict[str, Any]:
    """What an erased lead keeps of its contact."""
    kept = {name: contact[name] for name in KEPT_CONTACT_FIELDS if contact.get(name) is not None}
    return {"erased": True, **kept}


def erased_person_data(erased_at: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """What an erased person's record keeps: when, and the consent flag they had given."""
    kept = {name: data[name] for name in ("consent",) if data.get(name) is not None}
    return {"erased": True, "erased_at": erased_at, **kept}


def is_erased(data: Mapping[str, Any] | None) -> bool:
    return bool(data) and data.get("erased") is True  # type: ignore[union-attr]


# Longer than any tombstone (an id of up to 200 characters), shorter than any real event: lets a
# store find tombstones among events by length without reading the events.
TOMBSTONE_MAX_BYTES = 256


def event_tombstone(event_id: str) -> bytes:
    return orjson.dumps({"erased": True, "id": event_id})


def is_event_tombstone(payload: bytes) -> bool:
    return bytes(payload[:len(_TOMBSTONE_PREFIX)]) == _TOMBSTONE_PREFIX


def personal_values(contacts: Iterable[Mapping[str, Any]]) -> frozenset[str]:
    """Every way the personal values of these contacts may be written elsewhere: as sent, the
    normalised email, the phone in E.164 and as dialled at home (digits only, with and without
    the country code)."""
    values: set[str] = set()
    for contact in contacts:
        for name in _PERSONAL_FIELDS:
            value = contact.get(name)
            if isinstance(value, str) and value.strip():
                values.add(value.strip())
        email, phone = contact.get("email"), contact.get("phone")
        if isinstance(email, str) and email.strip():
            try:
                values.add(normalise_email(email))
            except InvalidContact:
                pass
        if isinstance(phone, str) and phone.strip():
            values.update(_phone_forms(phone, contact.get("country")))
    return frozenset(value for value in values if len(value) >= _MIN_CHARS)


def _phone_forms(raw: str, country: Any) -> set[str]:
    forms = {"".join(ch for ch in raw if ch.isdigit())}
    try:
        e164 = normalise_phone(raw, country if isinstance(country, str) else None)
    except InvalidContact:
        return forms
    number = phonenumbers.parse(e164, None)
    return forms | {e164, e164.lstrip("+"), str(number.national_number)}


def scrubbed(value: Any, values: frozenset[str]) -> Any:
    """``value`` (JSON: dicts, lists, strings, numbers) with every personal value replaced by
    ``[erased]`` wherever a string holds it, keys included."""
    if not values:
        return value
    pattern = re.compile("|".join(re.escape(v) for v in sorted(values, key=len, reverse=True)), re.IGNORECASE)

    def scrub(node: Any) -> Any:
        if isinstance(node, str):
            return pattern.sub(ERASED, node)
        if isinstance(node, dict):
            return {scrub(k) if isinstance(k, str) else k: scrub(v) for k, v in node.items()}
        if isinstance(node, list | tuple):
            return [scrub(item) for item in node]
        return node

    return scrub(value)
