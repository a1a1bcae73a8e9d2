"""Lead webhooks of the ad platforms: Meta Lead Ads and Google Ads lead forms.

Both deliver at least once, so each lead's platform id is its dedup key: a retried delivery
maps to the same lead id and changes nothing. Signatures are checked over the raw bytes,
before any parsing (PLATFORMS.md §6, §7).

Meta sends only ids; the lead's answers are fetched from the Graph API with the page token.
If that fetch fails we answer 5xx, and Meta retries for up to 36 hours.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from typing import Any

import httpx
import orjson

from leadrelay.services.intake.validation import LeadIn
from leadrelay.shared.security import constant_time_equal

GRAPH_URL = "https://graph.facebook.com/v21.0"

# Meta form field names → our lead fields. Anything else is kept as an attribute.
META_FIELDS = {
    "full_name": "name", "email": "email", "phone_number": "phone", "company_name": "company",
    "job_title": "title", "city": "city", "state": "region", "country": "country", "work_email": "email",
    "work_phone_number": "phone",
}
# Google column ids → our lead fields (FULL_NAME is confirmed; the rest follow the same pattern).
GOOGLE_FIELDS = {
    "FULL_NAME": "name", "EMAIL": "email", "WORK_EMAIL": "email", "PHONE_NUMBER": "phone", "WORK_PHONE": "phone",
    "COMPANY_NAME": "company", "JOB_TITLE": "title", "CITY": "city", "REGION": "region", "COUNTRY": "country",
}


def secret(value: str | None) -> str | None:
    """Config values may name an environment variable (``env:META_APP_SECRET``) instead of holding the secret."""
    if value and value.startswith("env:"):
        return os.environ.get(value[4:])
    return value


def meta_signature_valid(app_secret: str, raw_body: bytes, header: str | None) -> bool:
    if not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(app_secret.encode(), raw_body, hashlib.sha256).hexdigest()
    return constant_time_equal(expected, header.removeprefix("sha256="))


def meta_leadgen_ids(payload: Any) -> list[dict[str, Any]]:
    """The leadgen change values of a webhook delivery (``entry[]`` can batch several)."""
    if not isinstance(payload, dict) or payload.get("object") != "page":
        raise ValueError("object must be 'page'")
    changes = []
    for entry in payload.get("entry") or []:
        for change in entry.get("changes") or []:
            value = change.get("value") or {}
            if change.get("field") == "leadgen" and value.get("leadgen_id"):
                changes.append(value)
    return changes


async def fetch_meta_lead(http: httpx.AsyncClient, graph_url: str, leadgen_id: str, page_token: str) -> dict[str, Any]:
    response = await http.get(f"{graph_url.rstrip('/')}/{leadgen_id}", params={"access_token": page_token})
    response.raise_for_status()
    return response.json()


def lead_from_meta(lead: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {"external_id": str(lead.get("id") or change["leadgen_id"])}
    attributes: dict[str, Any] = {"form_id": change.get("form_id"), "ad_id": change.get("ad_id")}
    for item in lead.get("field_data") or []:
        values = item.get("values") or []
        if not values:
            continue
        name = str(item.get("name", ""))
        if name in META_FIELDS and META_FIELDS[name] not in body:
            body[META_FIELDS[name]] = str(values[0])
        else:
            attributes[name] = values[0] if len(values) == 1 else values
    body["utm_source"] = "meta"
    body["attributes"] = {k: v for k, v in attributes.items() if v is not None}
    return body


def lead_from_google(payload: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {"external_id": str(payload["lead_id"]), "utm_source": "google_ads"}
    attributes: dict[str, Any] = {key: payload[key] for key in ("form_id", "campaign_id", "adgroup_id", "creative_id",
                                                                "gcl_id", "is_test") if key in payload}
    first = last = None
    for column in payload.get("user_column_data") or []:
        column_id, value = column.get("column_id"), column.get("string_value")
        if value is None:
            continue
        if column_id in GOOGLE_FIELDS and GOOGLE_FIELDS[column_id] not in body:
            body[GOOGLE_FIELDS[column_id]] = value
        elif column_id == "FIRST_NAME":
            first = value
        elif column_id == "LAST_NAME":
            last = value
        else:
            attributes[column.get("column_name") or column_id] = value
    if "name" not in body and (first or last):
        body["name"] = " ".join(part for part in (first, last) if part)
    body["attributes"] = attributes
    return body


def known_fields_only(body: dict[str, Any]) -> dict[str, Any]:
    known = set(LeadIn.model_fields)
    return {k: v for k, v in body.items() if k in known}


def fingerprint(body: dict[str, Any]) -> bytes:
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
