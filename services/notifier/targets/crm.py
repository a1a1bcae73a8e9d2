"""What the CRM targets (``hubspot``, ``salesforce``) share: which events they write, the lead as
a CRM record sees it, the rep's user id there, and the platform's error text made safe to log.

Pure. A CRM learns of a lead from ``lead.assigned``: the first assignment writes the record with
its owner, a reassignment or a claim changes the owner, a fallback queue leaves the owner as it
was. Every other event is Skipped, activities from the CRM itself (``via: "crm"``) among them.
A reassignment made in one CRM comes back as ``lead.assigned`` and is written to every CRM: to
the one it came from that is a write of the value it already has.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from leadrelay.services.notifier.targets import OutgoingEvent, Skipped, TargetConfig
from leadrelay.shared.policy import CRMS, Policy

DETAIL_CHARS = 300
WRITTEN = "lead.assigned"


@dataclass(frozen=True)
class CrmLead:
    """What a CRM is told about a lead: who the person is, and the CRM user who owns them
    (mapped from the rep; None while the lead waits in a queue)."""

    lead_id: str
    owner_id: str | None
    email: str | None = None
    phone: str | None = None
    name: str | None = None
    company: str | None = None
    title: str | None = None
    country: str | None = None
    city: str | None = None
    website: str | None = None
    employees: int | None = None

    def __repr__(self) -> str:  # contact data stays out of logs and tracebacks
        return f"CrmLead(lead_id={self.lead_id!r}, owner_id={self.owner_id!r})"


def with_policy_owners(kind: str, config: Mapping[str, Any], policy: Policy | None) -> Mapping[str, Any]:
    """A connector's settings with the policy's rep -> CRM user map under its own ``owners``
    (which win: a connector may pin a rep). Other targets' settings come back as they are."""
    if kind not in CRMS or policy is None:
        return config
    own = config.get("owners")
    return {**config, "owners": {**policy.crm_owners(kind), **(own if isinstance(own, Mapping) else {})}}


def crm_lead(event: OutgoingEvent, target: TargetConfig, crm: str) -> CrmLead | Skipped:
    """The lead a ``lead.assigned`` event describes, with the owner's id in ``crm``; Skipped for
    any other event. Raises ValueError when the new owner has no user in ``crm`` (the delivery
    is dead-lettered with the message; map the rep and redrive it)."""
    if event.type != WRITTEN:
        return Skipped(f"{crm} is written on lead.assigned only")
    owner = event.data.get("owner")
    owner_id = None
    if owner:
        owners = target.config.get("owners") or {}
        owner_id = owners.get(owner) if isinstance(owners, Mapping) else None
        if not owner_id:
            raise ValueError(f"rep {owner} has no {crm} user: set reps[].crm.{crm}_owner_id or "
                             f"crm.{crm}.owners in the policy, then redrive")
    lead = event.data.get("lead") or {}
    contact = lead.get("contact") or {}
    employees = contact.get("employees")
    return CrmLead(
        lead_id=event.lead_id, owner_id=str(owner_id) if owner_id else None,
        email=_text(contact.get("email")), phone=_text(contact.get("phone")), name=_text(contact.get("name")),
        company=_text(contact.get("company")), title=_text(contact.get("title")),
        country=_text(contact.get("country")), city=_text(contact.get("city")), website=_text(contact.get("website")),
        employees=employees if isinstance(employees, int) and not isinstance(employees, bool) else None,
    )


def _text(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def parse_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None


def encode_json(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


_EMAIL = re.compile(r"[^\s@\"'<>,;:]+@[^\s@\"'<>,;:]+")
_PHONE = re.compile(r"\+?\d[\d ()-]{8,}\d")


def redact(text: str) -> str:
    """The platform's message, short, with e-mail addresses and phone numbers masked: CRMs echo
    the values they refuse, and details go to logs and the delivery's last error."""
    masked = _PHONE.sub("[phone]", _EMAIL.sub("[email]", text))
    return masked if len(masked) <= DETAIL_CHARS else masked[: DETAIL_CHARS - 1] + "…"


def split_name(name: str | None) -> tuple[str | None, str | None]:
    """(first, last): the last word is the family name; a single word (or a CJK name written
    without spaces) is all family name, since both CRMs prefer a last name to a first."""
    words = (name or "").split()
    if not words:
        return None, None
    if len(words) == 1:
        return None, words[0]
    return " ".join(words[:-1]), words[-1]


def clipped(value: str | None, limit: int) -> str | None:
    """A value cut to the CRM's length limit rather than refused for it (a long company name
    should not cost the rep the lead)."""
    if value is None:
        return None
    value = value.strip()
    return value[:limit] if value else None
