"""What a Salesforce Outbound Message says about our leads. Pure; the facts and their sources are in
/work/shared/CRM.md §3.6.

An Outbound Message (a workflow or flow action on Lead, fields ``Id, OwnerId, Status``) is a SOAP
POST of up to 100 ``Notification``s, each with its own ``Id`` and the Lead's **latest** values
(not the ones in between). Salesforce retries anything but an ``<Ack>true</Ack>`` for up to 24
hours, and may deliver a notification twice or out of order: dedupe on the notification ``Id``.
The message is not signed; the endpoint URL carries a secret of ours, and the message names the
org (``OrganizationId``), which may be checked too.

What a notification means for the lead (``activities_for``): the owner is another rep's Salesforce
user → the lead is reassigned to that rep; the Lead Status says the rep worked it (the default
picklist: ``Working - Contacted`` → contacted, ``Closed - Converted`` → converted, ``Closed - Not
Converted`` → lost). Our own write of the owner coming back, and a status the lead is already
past, change nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as safe_xml
from defusedxml import DefusedXmlException

from leadrelay.services.router.crm_changes import CrmActivity

OUTBOUND_NS = "http://soap.sforce.com/2005/09/outbound"
SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
MAX_NOTIFICATIONS = 100
STATUS_ACTIONS: dict[str, Literal["contacted", "converted", "lost"]] = {
    "Working - Contacted": "contacted", "Closed - Converted": "converted", "Closed - Not Converted": "lost"}
ACK = (f'<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="{SOAP_NS}"><soapenv:Body>'
       f'<notificationsResponse xmlns="{OUTBOUND_NS}"><Ack>true</Ack></notificationsResponse>'
       '</soapenv:Body></soapenv:Envelope>').encode()


@dataclass(frozen=True)
class LeadNotification:
    notification_id: str
    lead_id: str  # Salesforce's Lead Id (00Q…)
    owner_id: str | None
    status: str | None


@dataclass(frozen=True)
class OutboundMessage:
    organization_id: str
    notifications: tuple[LeadNotification, ...]


def parse(body: bytes) -> OutboundMessage:
    """The message's Lead notifications; raises ValueError for anything but an Outbound Message
    (XML with entities or DTDs is refused unread)."""
    try:
        root = safe_xml.fromstring(body, forbid_dtd=True)
    except (DefusedXmlException, SyntaxError, ValueError) as exc:  # ParseError is a SyntaxError
        raise ValueError(f"not an Outbound Message ({type(exc).__name__})") from None
    found = root.find(f".//{{{OUTBOUND_NS}}}notifications")
    if found is None:
        raise ValueError("no notifications element")
    items = found.findall(f"{{{OUTBOUND_NS}}}Notification")
    if len(items) > MAX_NOTIFICATIONS:
        raise ValueError(f"more than {MAX_NOTIFICATIONS} notifications")
    notifications = []
    for item in items:
        notification_id = _text(item.find(f"{{{OUTBOUND_NS}}}Id"))
        record = item.find(f"{{{OUTBOUND_NS}}}sObject")
        if not notification_id or record is None:
            raise ValueError("a notification without Id or sObject")
        fields = {child.tag.rsplit("}", 1)[-1]: _text(child) for child in record}
        if not fields.get("Id"):
            continue  # not a record we can name
        notifications.append(LeadNotification(notification_id, fields["Id"] or "", fields.get("OwnerId"),
                                              fields.get("Status")))
    return OutboundMessage(_text(found.find(f"{{{OUTBOUND_NS}}}OrganizationId")) or "", tuple(notifications))


def _text(element: Element | None) -> str | None:
    text = element.text if element is not None else None
    return text.strip() or None if text else None


def activities_for(notification: LeadNotification, owner: str | None, state: str,
                   rep_of_user_id: Mapping[str, str]) -> list[CrmActivity]:
    """What the notification means for a lead owned by ``owner`` in ``state``: an owner change
    first (so a status that comes with it is the new owner's), then the status."""
    found = []
    rep = rep_of_user_id.get(notification.owner_id or "")
    if rep is not None and rep != owner:
        found.append(CrmActivity("reassign", "owner changed in Salesforce", to_rep=rep))
    action = STATUS_ACTIONS.get(notification.status or "")
    if action is not None and not _already(state, action):
        found.append(CrmActivity(action, f"Lead Status set to {notification.status} in Salesforce"))
    return found


_ORDER = ("offered", "assigned", "accepted", "contacted", "converted", "lost")


def _already(state: str, action: str) -> bool:
    """The lead is at or past what the status says (a closed lead stays closed)."""
    if state in ("converted", "lost"):
        return True
    return state in _ORDER and _ORDER.index(state) >= _ORDER.index(action)
