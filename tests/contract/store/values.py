"""Builders and checks the store contract modules share."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime, timedelta
from typing import Any

from leadrelay.shared.ports import NewLead

AT = datetime(2031, 3, 4, 8, 0, tzinfo=UTC)  # an instant the test chooses (not the store's clock)


def at(minutes: float = 0) -> datetime:
    return AT + timedelta(minutes=minutes)


def new_lead(lead_id: str, **values: Any) -> NewLead:
    """A lead as scoring first stores it; ``values`` replace any field."""
    lead: dict[str, Any] = {
        "lead_id": lead_id, "person_id": f"person-{lead_id}", "source": "web", "identity_key": f"key-{lead_id}",
        "correlation_id": f"corr-{lead_id}", "received_at": AT,
        "contact": {"name": "Li Wei", "company": "Big Factory", "employees": 2000, "attributes": {"tags": ["a"]}},
        "score": 35, "grade": "warm", "reasons": [{"rule": "big-company", "points": 25}], "duplicate_of": None,
        "state": "qualified", "policy_version": 1,
    }
    lead.update(values)
    return lead  # type: ignore[return-value]


def assert_aware_utc(record: Any) -> None:
    """Every time a record holds is an aware datetime in UTC (the records' promise)."""
    for field in fields(record):
        value = getattr(record, field.name)
        if isinstance(value, datetime):
            assert value.tzinfo is not None and value.utcoffset() == timedelta(0), f"{field.name}={value!r}"
            assert value.tzinfo == UTC, f"{field.name}={value!r}"
