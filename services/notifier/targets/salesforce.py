"""Salesforce REST (kind ``salesforce``): the lead as a Lead record, upserted by an external id
field holding Leadrelay's lead id, ``OwnerId`` set to the owner's User (or Queue) id, with an OAuth
2.0 client-credentials token. Facts and their sources: /work/shared/CRM.md §3.

- Token: ``POST {My Domain}/services/oauth2/token``, form-encoded ``grant_type=client_credentials``
  with the consumer key and secret (§3.1); the answer names the ``instance_url`` to call. The flow
  gives no refresh token and no lifetime: on 401 ``INVALID_SESSION_ID`` (§3.4) the sender fetches
  a new token and sends again (``Reauth``).
- Upsert: ``PATCH /services/data/vXX.X/sobjects/Lead/{field}/{lead id}`` (§3.2): 201 created, 200
  or 204 updated; 300 several records match (the field is not Unique) and 404 (no such field)
  are Permanent. Keyed on our lead id, a retried or repeated write updates the same record.
  ``Sforce-Auto-Assign: FALSE`` keeps Lead assignment rules from overriding our ``OwnerId``
  (§3.3, [U]).
- Errors are a JSON array of ``{message, errorCode, fields}`` (§3.4). A spent daily allocation is
  403 ``REQUEST_LIMIT_EXCEEDED`` ([U], §3.5): retried after an hour (the allocation is a rolling
  24 hours); Salesforce does not use 429 ([U]), but a 429 with Retry-After is honoured.

Subscription: ``url`` the org's My Domain (``https://<domain>.my.salesforce.com``), ``secret`` the
consumer secret; ``config``: ``client_id`` (the consumer key), ``external_id_field``
(``Leadrelay_Id__c``: a custom text field marked External ID and Unique), ``api_version``
(``66.0``), ``owners`` (merged from the policy).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

from leadrelay.services.notifier.targets import (
    AccessToken,
    Delivered,
    HttpRequest,
    HttpResponse,
    Outcome,
    OutgoingEvent,
    Permanent,
    Reauth,
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

TOKEN_PATH = "/services/oauth2/token"
DEFAULT_API_VERSION = "66.0"
REQUEST_LIMIT_WAIT_S = 3600.0
# Lead field lengths (the Lead object reference): longer is refused as STRING_TOO_LONG, so it is
# cut instead; an e-mail that long is left out, since a cut one would be wrong.
FIELD_CHARS = {"FirstName": 40, "LastName": 80, "Company": 255, "Title": 128, "Phone": 40,
               "Country": 80, "City": 40, "Website": 255}
EMAIL_CHARS = 80
# Required to create a Lead (§3.2: LastName [C], Company [U]); what Web-to-Lead writes when unknown.
NOT_PROVIDED = "[not provided]"
_FIELD = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,36}__c$")
_VERSION = re.compile(r"^v?([1-9][0-9]\.0)$")


def fields(lead: CrmLead) -> dict[str, Any]:
    """The Lead's fields. LastName and Company are required to create one. A lead waiting in a
    queue (owner None) leaves ``OwnerId`` as it is."""
    first, last = split_name(lead.name)
    values = {"FirstName": first, "LastName": last or NOT_PROVIDED, "Company": lead.company or NOT_PROVIDED,
              "Title": lead.title, "Phone": lead.phone, "Country": lead.country, "City": lead.city,
              "Website": lead.website}
    found: dict[str, Any] = {}
    for name, value in values.items():
        cut = clipped(value, FIELD_CHARS[name])
        if cut is not None:
            found[name] = cut
    email = (lead.email or "").strip()
    if email and len(email) <= EMAIL_CHARS:
        found["Email"] = email
    if lead.employees is not None:
        found["NumberOfEmployees"] = lead.employees
    if lead.owner_id:
        found["OwnerId"] = lead.owner_id
    return found


def settings(target: TargetConfig) -> tuple[str, str]:
    """(external id field, API version) from the subscription; raises ValueError when unusable."""
    field = str(target.config.get("external_id_field") or "")
    if not _FIELD.match(field):
        raise ValueError("external_id_field must name a custom field marked External ID, e.g. Leadrelay_Id__c")
    version = _VERSION.match(str(target.config.get("api_version") or DEFAULT_API_VERSION))
    if version is None:
        raise ValueError("api_version must look like 66.0")
    return field, version.group(1)


def lead_url(instance_url: str, version: str, field: str, lead_id: str) -> str:
    # The value is a path segment: escape everything, slashes too (as simple-salesforce's
    # format_external_id does, §3.7).
    return f"{instance_url.rstrip('/')}/services/data/v{version}/sobjects/Lead/{field}/{quote(lead_id, safe='')}"


def interpret_upsert(response: HttpResponse) -> Outcome:
    status = response.status
    payload = parse_json(response.body)
    if status in (200, 201, 204):
        data = payload if isinstance(payload, dict) else {}
        created = data.get("created") is True or status == 201
        record_id = str(data["id"]) if data.get("id") else None  # a 204 has no body: the link stays as it was
        return Delivered(f"salesforce lead {record_id or '(204)'} {'created' if created else 'updated'}", record_id)
    code, message = first_error(payload)
    if status == 401 and code == "INVALID_SESSION_ID":
        return Reauth("salesforce 401 INVALID_SESSION_ID")
    if code == "REQUEST_LIMIT_EXCEEDED":
        seconds = retry_after_seconds(response.headers)
        return RetryAfter(REQUEST_LIMIT_WAIT_S if seconds is None else seconds,
                          redact(f"salesforce {status} {code}: {message}"))
    if status == 429:
        return RetryAfter(retry_after_seconds(response.headers), "salesforce 429")
    if status == 300:
        return Permanent("salesforce 300: several Leads have this external id; mark the field Unique")
    if status >= 500 or status in (408, 425):
        return RetryAfter(retry_after_seconds(response.headers), f"salesforce {status} {code}".strip())
    detail = ": ".join(part for part in (code, message) if part)
    return Permanent(redact(f"salesforce {status} {detail}".strip()))


def first_error(payload: Any) -> tuple[str, str]:
    """(errorCode, message) of the first entry of Salesforce's error array (§3.4)."""
    entries = payload if isinstance(payload, list) else [payload]
    entry = entries[0] if entries and isinstance(entries[0], dict) else {}
    return str(entry.get("errorCode") or ""), str(entry.get("message") or "")


class SalesforceLeads:
    kind = "salesforce"

    def build(self, event: OutgoingEvent, target: TargetConfig, token: AccessToken | None,
              now: datetime) -> HttpRequest | Skipped:
        field, version = settings(target)
        lead = crm_lead(event, target, "salesforce")
        if isinstance(lead, Skipped):
            return lead
        if token is None:
            raise ValueError("Salesforce needs a token: the sender fetches one with token_request")
        instance_url = token.extra.get("instance_url") or target.url
        return HttpRequest("PATCH", lead_url(instance_url, version, field, lead.lead_id),
                           {"Authorization": f"Bearer {token.value}", "Content-Type": "application/json",
                            "Accept": "application/json", "Sforce-Auto-Assign": "FALSE"},
                           encode_json(fields(lead)))

    def interpret(self, response: HttpResponse) -> Outcome:
        return interpret_upsert(response)

    def token_request(self, target: TargetConfig, now: datetime) -> HttpRequest:
        """The client-credentials grant, credentials in the form body (§3.1)."""
        client_id = str(target.config.get("client_id") or "")
        if not client_id:
            raise ValueError("client_id (the connected app's consumer key) is not set")
        form = urlencode({"grant_type": "client_credentials", "client_id": client_id,
                          "client_secret": target.secret})
        return HttpRequest("POST", target.url.rstrip("/") + TOKEN_PATH,
                           {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
                           form.encode())

    def read_token(self, response: HttpResponse, now: datetime) -> AccessToken:
        """The token and its ``instance_url``; raises ValueError with Salesforce's ``error`` and
        ``error_description`` when refused (e.g. ``invalid_client``)."""
        payload = parse_json(response.body)
        data = payload if isinstance(payload, dict) else {}
        if response.status == 200 and data.get("access_token") and data.get("instance_url"):
            return AccessToken(str(data["access_token"]), None, {"instance_url": str(data["instance_url"])})
        reason = ": ".join(str(data[key]) for key in ("error", "error_description") if data.get(key))
        raise ValueError(redact(f"salesforce token {response.status} {reason}".strip()))
