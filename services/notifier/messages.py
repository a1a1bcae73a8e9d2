"""What a rep reads in chat about a lead: built from the lead as stored, platform-neutral."""

from __future__ import annotations

from typing import Any

from services.notifier.platforms import ChatMessage

_TITLES = {
    "assigned": "New {grade} lead",
    "reassigned": "Lead reassigned to you ({grade})",
    "fallback": "Unassigned {grade} lead in queue {queue}",
    "reminder": "Reminder: {grade} lead waiting",
    "escalation": "Escalation: {grade} lead past its SLA",
    "recycled": "Lead returned to the pool",
}


def lead_message(kind: str, lead: Any, base_url: str, text: str = "") -> ChatMessage:
    """``lead`` is a row of the leads table. The rep needs the contact details to call, so they
    go into the chat message (the rep's own lead); they never go into logs."""
    contact = dict(lead.contact or {})
    who = contact.get("name") or "Someone"
    company = contact.get("company")
    title = _TITLES.get(kind, "Lead update").format(grade=lead.grade or "", queue=lead.queue or "-")
    title = f"{title}: {who}" + (f" ({company})" if company else "")
    facts: list[tuple[str, str]] = [("Score", f"{lead.score} · {lead.grade}"), ("Source", lead.source)]
    for label, field in (("Email", "email"), ("Phone", "phone"), ("Title", "title"), ("Industry", "industry"),
                         ("Country", "country"), ("City", "city")):
        if contact.get(field):
            facts.append((label, str(contact[field])))
    if contact.get("employees") is not None:
        facts.append(("Employees", str(contact["employees"])))
    return ChatMessage(kind=kind, lead_id=lead.lead_id, title=title, facts=tuple(facts),
                       url=f"{base_url.rstrip('/')}/v1/leads/{lead.lead_id}", text=text)


def message_to_json(message: ChatMessage) -> dict[str, Any]:
    return {"kind": message.kind, "lead_id": message.lead_id, "title": message.title,
            "facts": [list(f) for f in message.facts], "url": message.url, "text": message.text}


def message_from_json(data: dict[str, Any]) -> ChatMessage:
    return ChatMessage(kind=data["kind"], lead_id=data["lead_id"], title=data["title"],
                       facts=tuple((a, b) for a, b in data["facts"]), url=data.get("url"), text=data.get("text", ""))
