"""How a routed lead reads over HTTP: the whole story of one lead, and a line per lead in lists."""

from __future__ import annotations

from typing import Any

from leadrelay.shared.clock import as_utc
from leadrelay.shared.ports import LeadRecord, UnitOfWork


def iso(value: Any) -> str | None:
    value = as_utc(value)
    return value.isoformat() if value else None


async def lead_view(uow: UnitOfWork, lead: LeadRecord) -> dict[str, Any]:
    decisions = await uow.leads.decisions(lead.lead_id)
    deliveries = await uow.deliveries.for_lead(lead.lead_id)
    history = await uow.leads.history(lead.lead_id)
    clocks = await uow.clocks.for_lead(lead.lead_id)
    return {
        "lead_id": lead.lead_id,
        "status": lead.state,
        "source": lead.source,
        "received_at": iso(lead.received_at),
        "contact": lead.contact,
        "person_id": lead.person_id,
        "duplicate_of": lead.duplicate_of,
        "score": lead.score,
        "grade": lead.grade,
        "score_reasons": lead.reasons or [],
        "owner": lead.owner,
        "team": lead.team,
        "queue": lead.queue,
        "assigned_at": iso(lead.assigned_at),
        "policy_version": lead.policy_version,
        "decision": dict(decisions[-1].explanation, decided_at=iso(decisions[-1].decided_at)) if decisions else None,
        "decisions": [dict(d.explanation, decided_at=iso(d.decided_at)) for d in decisions],
        "sla_clocks": [
            {"clock": c.clock, "step": c.step, "due_at": iso(c.due_at), "state": c.state, "fired_at": iso(c.fired_at)}
            for c in clocks
        ],
        "notifications": [
            {"recipient": d.recipient, "platform": d.platform, "kind": d.kind, "state": d.state,
             "attempts": d.attempts, "sent_at": iso(d.sent_at), "last_error": d.last_error}
            for d in deliveries
        ],
        # The entry's own time and kind win over same-named keys in its detail.
        "history": [{"at": iso(h.at), "kind": h.kind, **{k: v for k, v in h.detail.items() if k not in ("at", "kind")}}
                    for h in history],
    }


def summary(lead: LeadRecord) -> dict[str, Any]:
    contact = lead.contact or {}
    return {"lead_id": lead.lead_id, "status": lead.state, "grade": lead.grade, "score": lead.score,
            "source": lead.source, "owner": lead.owner, "team": lead.team, "queue": lead.queue,
            "name": contact.get("name"), "company": contact.get("company"),
            "received_at": iso(lead.received_at), "assigned_at": iso(lead.assigned_at)}
