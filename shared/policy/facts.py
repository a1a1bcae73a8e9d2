"""The flat facts a policy condition can test, built from a lead's contact and what we learned."""

from __future__ import annotations

from typing import Any

from leadrelay.shared.events import LeadContact
from leadrelay.shared.identity import email_domain, is_free_email_domain


def lead_facts(contact: LeadContact, source: str, **learned: Any) -> dict[str, Any]:
    facts: dict[str, Any] = contact.model_dump(exclude={"attributes"})
    facts.update({f"attributes.{k}": v for k, v in contact.attributes.items()})
    facts["source"] = source
    if contact.email:
        domain = email_domain(contact.email)
        facts["email_domain"] = domain
        facts["free_email"] = is_free_email_domain(domain)
    facts.update(learned)
    return facts
