"""HubSpot CRM v3 (kind ``hubspot``): the lead's contact, upserted by e-mail, ``hubspot_owner_id``
set to the owner's HubSpot owner id. Facts and their sources: /work/shared/CRM.md §2.

One call per assignment: ``POST /crm/v3/objects/contacts/batch/upsert`` with ``idProperty: email``
(§2.3) creates the contact or updates the one with that e-mail. Search-then-create would race
(search lags behind writes; a create that loses is a 409, §2.3/§2.5), and a retried upsert never
makes a second contact. A lead without an e-mail has nothing HubSpot de-duplicates on: Skipped.

Subscription: ``url`` the API base (``https://api.hubapi.com``), ``secret`` a private app's (or
the developer platform's static) token, sent as ``Authorization: Bearer`` (§2.1); ``config``:
``owners`` (merged from the policy), optional ``lifecycle_stage`` (an internal stage name
written on every assignment; unset leaves the stage to HubSpot, whose stages only move forward).

HubSpot says a 401 is not a sign to fetch a new token, and a static token has none to fetch: a
401 is a configuration error, Permanent until the token is fixed and the delivery redriven.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from leadrelay.services.notifier.targets import (
    AccessToken,
    Delivered,
    HttpRequest,
    HttpResponse,
    Outcome,
    OutgoingEvent,
    Permanent,
    RetryAfter,
    Skipped,
    TargetConfig,
    retry_after_seconds,
)
from leadrelay.services.notifier.targets.crm import (
    CrmLead,
    clipped,
    crm_lead,
    encode_json,
    parse_json,
    redact,
    split_name,
)

UPSERT_PATH = "/crm/v3/objects/contacts/batch/upsert"
# Without Retry-After ([U] for HubSpot) the secondly limit is waited out for one window
# (X-HubSpot-RateLimit-Interval-Milliseconds, 10 s, §2.6); the daily one resets at midnight in the
# account's time zone, which we do not know: look again in an hour.
WINDOW_WAIT_S = 10.0
DAILY_WAIT_S = 3600.0
TEXT_CHARS = 255  # HubSpot text properties hold far more; a CRM card shows far less


def properties(lead: CrmLead, lifecycle_stage: str | None) -> dict[str, str]:
    """The contact's properties, every value a string as the API requires (§2.2). A lead waiting
    in a queue (owner None) leaves ``hubspot_owner_id`` as it is."""
    first, last = split_name(lead.name)
    values: dict[str, str | None] = {
        "firstname": clipped(first, TEXT_CHARS),
        "lastname": clipped(last, TEXT_CHARS),
        "company": clipped(lead.company, TEXT_CHARS),
        "jobtitle": clipped(lead.title, TEXT_CHARS),
        "phone": clipped(lead.phone, TEXT_CHARS),
        "country": clipped(lead.country, TEXT_CHARS),
        "city": clipped(lead.city, TEXT_CHARS),
        "website": clipped(lead.website, TEXT_CHARS),
        "numberofemployees": str(lead.employees) if lead.employees is not None else None,
        "lifecyclestage": lifecycle_stage,
        "hubspot_owner_id": lead.owner_id,
    }
    return {name: value for name, value in values.items() if value is not None}


def upsert_request(lead: CrmLead, base_url: str, token: str, lifecycle_stage: str | None) -> HttpRequest | Skipped:
    email = (lead.email or "").strip().lower()
    if not email:
        return Skipped("no e-mail: HubSpot contacts are keyed on e-mail")
    body = {"inputs": [{"idProperty": "email", "id": email, "properties": properties(lead, lifecycle_stage)}]}
    return HttpRequest("POST", base_url.rstrip("/") + UPSERT_PATH,
                       {"Authorization": f"Bearer {token}", "Content-Type": "application/json",
                        "Accept": "application/json"}, encode_json(body))


def interpret_upsert(response: HttpResponse) -> Outcome:
    """200 (done; ``new`` says created), 207 (our one input failed: its error), 400
    VALIDATION_ERROR (HubSpot's message), 401/403 (the token or its scopes), 429 (Retry-After,
    else the window or an hour for the daily cap), 5xx (the sender's backoff)."""
    status = response.status
    payload = parse_json(response.body)
    error: Mapping[str, Any] = payload if isinstance(payload, dict) else {}
    if status == 200:
        results = error.get("results") or [{}]
        first = results[0] if isinstance(results[0], dict) else {}
        created = first.get("new") is True
        record_id = str(first["id"]) if first.get("id") else None
        return Delivered(f"hubspot contact {record_id or '?'} {'created' if created else 'updated'}", record_id)
    if status == 207:
        errors = error.get("errors") or [{}]
        return Permanent(redact(f"hubspot 207 {_describe(errors[0] if isinstance(errors[0], dict) else {})}"))
    if status == 429:
        policy_name = str(error.get("policyName") or "RATE_LIMIT")
        seconds = retry_after_seconds(response.headers)
        if seconds is None:
            seconds = DAILY_WAIT_S if policy_name == "DAILY" else _window(response.headers)
        return RetryAfter(seconds, f"hubspot 429 {policy_name}")
    if status >= 500 or status in (408, 425):
        return RetryAfter(retry_after_seconds(response.headers), f"hubspot {status}")
    return Permanent(redact(f"hubspot {status} {_describe(error)}".strip()))


def _window(headers: Mapping[str, str]) -> float:
    value = headers.get("x-hubspot-ratelimit-interval-milliseconds") or headers.get(
        "X-HubSpot-RateLimit-Interval-Milliseconds")
    try:
        return max(1.0, float(value) / 1000.0) if value else WINDOW_WAIT_S
    except ValueError:
        return WINDOW_WAIT_S


def _describe(error: Mapping[str, Any]) -> str:
    """``CATEGORY: message`` from HubSpot's error body (§2.5: every field optional)."""
    return ": ".join(str(error[key]) for key in ("category", "message") if error.get(key))


class HubSpotContacts:
    kind = "hubspot"

    def build(self, event: OutgoingEvent, target: TargetConfig, token: AccessToken | None,
              now: datetime) -> HttpRequest | Skipped:
        lead = crm_lead(event, target, "hubspot")
        if isinstance(lead, Skipped):
            return lead
        stage = target.config.get("lifecycle_stage")
        return upsert_request(lead, target.url, target.secret, str(stage) if stage else None)

    def interpret(self, response: HttpResponse) -> Outcome:
        return interpret_upsert(response)

    def token_request(self, target: TargetConfig, now: datetime) -> None:
        return None  # a static token, sent by build()

    def read_token(self, response: HttpResponse, now: datetime) -> AccessToken:
        raise ValueError("HubSpot private app tokens are not fetched")
