"""What a HubSpot webhook says about our leads, and whether HubSpot sent it. Pure: the caller
passes ``now``; the facts and their sources are in /work/shared/CRM.md §2.7.

- Signature v3: ``X-HubSpot-Signature-v3`` is base64(HMAC-SHA256(app client secret, method + URI
  + body + timestamp)), the timestamp (``X-HubSpot-Request-Timestamp``) in milliseconds; refused
  when older than five minutes (HubSpot's rule), or more than five minutes ahead (ours: a clock
  that far off cannot be told from a forgery). In the URI, HubSpot's list of percent-escapes is
  decoded first.
- Body: a JSON array of events; the ones read here are contact property changes
  (``contact.propertyChange``, or ``object.propertyChange`` on contacts, ``0-1``) of the owner
  (``hubspot_owner_id``) and of the status (``lifecyclestage``, ``hs_lead_status``). Events are
  thin: the contact's id, the property, its new value.

What a change means for the lead (``activity_for``): the owner changed to another rep's HubSpot
user → the lead is reassigned to that rep; the status moved past "lead" → the rep worked it
(contacted; a customer → converted; unqualified → lost). A change that says what we already know
(our own write of the owner coming back, a status change on a lead worked already) changes
nothing, which also makes HubSpot's retries harmless.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from leadrelay.services.router.crm_changes import CrmActivity

TOLERANCE = timedelta(minutes=5)
# HubSpot decodes these in the URI before signing (§2.7, step 2).
_DECODED = {"%3A": ":", "%2F": "/", "%3F": "?", "%40": "@", "%21": "!", "%24": "$", "%27": "'", "%28": "(",
            "%29": ")", "%2A": "*", "%2C": ",", "%3B": ";"}
CONTACTS = "0-1"  # the contacts object type id in generic subscriptions ([U], §2.7)
OWNER = "hubspot_owner_id"
# A stage or lead status that means a salesperson has worked the contact; earlier ones (subscriber,
# lead, marketingqualifiedlead; NEW, OPEN) say nothing about the rep, and our own sync may set them.
WORKED = {
    "lifecyclestage": {"salesqualifiedlead": "contacted", "opportunity": "contacted", "customer": "converted"},
    "hs_lead_status": {"IN_PROGRESS": "contacted", "ATTEMPTED_TO_CONTACT": "contacted", "CONNECTED": "contacted",
                       "OPEN_DEAL": "contacted", "BAD_TIMING": "contacted", "UNQUALIFIED": "lost"},
}
MAX_EVENTS = 100


class SignatureRefused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class PropertyChange:
    contact_id: str
    name: str
    value: str
    source: str  # HubSpot's changeSource (CRM_UI, INTEGRATION, …)


def signed_uri(uri: str) -> str:
    for escaped, plain in _DECODED.items():
        uri = uri.replace(escaped, plain).replace(escaped.lower(), plain)
    return uri


def signature_v3(client_secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    message = method.encode() + signed_uri(uri).encode() + body + timestamp.encode()
    return base64.b64encode(hmac.new(client_secret.encode(), message, hashlib.sha256).digest()).decode()


def verify(client_secret: str, method: str, uri: str, body: bytes, headers: Mapping[str, str], now: datetime) -> None:
    """Raises SignatureRefused (``unsigned``, ``stale``, ``bad signature``) unless HubSpot signed
    this request within five minutes of ``now``."""
    signature = _header(headers, "x-hubspot-signature-v3")
    timestamp = _header(headers, "x-hubspot-request-timestamp")
    if not signature or not timestamp:
        raise SignatureRefused("unsigned")
    try:
        sent_ms = int(timestamp)
    except ValueError:
        raise SignatureRefused("stale") from None
    if abs(now.timestamp() * 1000 - sent_ms) > TOLERANCE.total_seconds() * 1000:
        raise SignatureRefused("stale")
    expected = signature_v3(client_secret, method.upper(), uri, body, timestamp)
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        raise SignatureRefused("bad signature")


def _header(headers: Mapping[str, str], name: str) -> str | None:
    return next((value for key, value in headers.items() if key.lower() == name), None)


def property_changes(body: bytes) -> list[PropertyChange]:
    """The contact property changes in a webhook body; raises ValueError when it is not a JSON
    array of events. Events of other kinds are left out."""
    try:
        events = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ValueError("not JSON") from None
    if not isinstance(events, list) or len(events) > MAX_EVENTS:
        raise ValueError(f"not an array of at most {MAX_EVENTS} events")
    changes = []
    for event in events:
        if not isinstance(event, dict):
            raise ValueError("an event is not an object")
        kind = event.get("subscriptionType")
        on_contact = kind == "contact.propertyChange" or (kind == "object.propertyChange"
                                                          and event.get("objectTypeId") == CONTACTS)
        name, value, contact = event.get("propertyName"), event.get("propertyValue"), event.get("objectId")
        if on_contact and isinstance(name, str) and isinstance(contact, (int, str)) and not isinstance(contact, bool):
            changes.append(PropertyChange(str(contact), name, value if isinstance(value, str) else "",
                                          str(event.get("changeSource") or "")))
    return changes


def activity_for(change: PropertyChange, owner: str | None, rep_of_owner_id: Mapping[str, str]) -> CrmActivity | None:
    """What the change means for a lead owned by ``owner`` (a rep id), given which rep each
    HubSpot owner id is; None when it means nothing new."""
    if change.name == OWNER:
        rep = rep_of_owner_id.get(change.value)
        if rep is None or rep == owner:  # unknown in the policy, cleared, or our own write
            return None
        return CrmActivity("reassign", "owner changed in HubSpot", to_rep=rep)
    action = WORKED.get(change.name, {}).get(change.value)
    if action is None:
        return None
    return CrmActivity(action, f"{change.name} set to {change.value} in HubSpot")  # type: ignore[arg-type]
