"""Lead webhooks of the ad platforms, Meta Lead Ads and Google Ads lead forms: what they send, as
pydantic models, and how it becomes a lead. Pure: the HTTP, the secrets and the Graph API calls are
in ``api.py``.

Both deliver at least once, so each lead's platform id is its dedup key: a retried delivery maps to
the same lead id and changes nothing. Signatures are checked over the raw bytes, before any
parsing (PLATFORMS.md §6, §7). A delivery of the wrong shape (``entry`` a number, a column's name a
list) is refused with 422 naming the field: nothing of it is stored. Fields we do not know are
ignored, as Google asks (new ones appear).

Meta sends only ids; the lead's answers are fetched from the Graph API with the page token.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, StringConstraints, ValidationError, WithJsonSchema

from leadrelay.services.intake.validation import LeadIn, field_errors
from leadrelay.shared.problems import InvalidField
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


def _id_text(value: object) -> object:
    """Platform ids are strings, but a number is the same id (Google's are int64)."""
    if isinstance(value, int) and not isinstance(value, bool) and -(2 ** 63) <= value < 2 ** 63:
        return str(value)
    if isinstance(value, str):
        # Stripped here: StringConstraints(strip_whitespace=True, min_length=1) let "  " through as "".
        return value.strip()
    return value  # anything else is checked as text (and refused, naming the field, when it is not)


# An id of a platform's object. Bounded: ``meta:<id>`` and ``google:<id>`` are idempotency keys,
# which the store holds in 200 characters.
PlatformId = Annotated[str, BeforeValidator(_id_text), StringConstraints(min_length=1, max_length=150),
                       # What it accepts, as the OpenAPI document says it: text, or an int64.
                       WithJsonSchema({"anyOf": [{"type": "string", "minLength": 1, "maxLength": 150, "pattern": r"\S"},
                                                 {"type": "integer", "minimum": -(2 ** 63), "maximum": 2 ** 63 - 1}]})]
ShortText = Annotated[str, StringConstraints(max_length=200)]


class PlatformPayload(BaseModel):
    """What a platform sends: fields we do not know are ignored (platforms add fields)."""

    # strict: a field is the JSON type the document declares (no `false` for a time); ids may
    # still come as numbers (``PlatformId`` turns them into text before the check).
    model_config = ConfigDict(extra="ignore", frozen=True, strict=True)


Payload = TypeVar("Payload", bound=PlatformPayload)


class MetaLeadgen(PlatformPayload):
    """The value of a ``leadgen`` change: which lead, from which page, form and ad."""

    leadgen_id: PlatformId
    page_id: PlatformId | None = None
    form_id: PlatformId | None = None
    ad_id: PlatformId | None = None
    adgroup_id: PlatformId | None = None
    created_time: int | None = None


class MetaChange(PlatformPayload):
    field: ShortText
    # What a change carries depends on its field; a ``leadgen`` change's value is a MetaLeadgen.
    value: Any = None


class MetaEntry(PlatformPayload):
    id: PlatformId | None = None
    time: int | None = None
    changes: list[MetaChange] | None = None


class MetaDelivery(PlatformPayload):
    """A webhook delivery: ``entry[]`` can batch several pages' changes."""

    object: Literal["page"]
    entry: list[MetaEntry] | None = None


class MetaAnswer(PlatformPayload):
    name: ShortText
    values: list[str] | None = None


class MetaLead(PlatformPayload):
    """A lead as the Graph API returns it: the form's answers in ``field_data``."""

    id: PlatformId | None = None
    field_data: list[MetaAnswer] | None = None


class GoogleColumn(PlatformPayload):
    """One answer of a Google lead form. ``column_name`` is not always there; ``column_id`` is."""

    column_id: ShortText | None = None
    column_name: ShortText | None = None
    string_value: str | None = None


class GoogleLeadForm(PlatformPayload):
    """A Google Ads lead form submission (its ``google_key`` is checked before this is read)."""

    lead_id: PlatformId
    api_version: ShortText | None = None
    form_id: int | None = None
    campaign_id: int | None = None
    adgroup_id: int | None = None
    creative_id: int | None = None
    asset_group_id: int | None = None
    gcl_id: ShortText | None = None
    is_test: bool | None = None
    user_column_data: list[GoogleColumn] | None = None


def invalid(errors: list[dict[str, str]], what: str) -> InvalidField:
    return InvalidField(f"Invalid {what}: {errors[0]['field']}: {errors[0]['reason']}", errors=errors)


def validated(model: type[Payload], payload: object, what: str, at: str = "") -> Payload:
    """``payload`` as ``model``; raises InvalidField naming each field at fault (its path under ``at``)."""
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        errors = field_errors(exc)
        if at:
            errors = [{**e, "field": at if e["field"] == "body" else f"{at}.{e['field']}"} for e in errors]
        raise invalid(errors, what) from None


def meta_signature_valid(app_secret: str, raw_body: bytes, header: str | None) -> bool:
    if not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(app_secret.encode(), raw_body, hashlib.sha256).hexdigest()
    return constant_time_equal(expected, header.removeprefix("sha256="))


def meta_leadgen_changes(payload: object) -> list[MetaLeadgen]:
    """The leadgen changes of a webhook delivery; raises InvalidField naming the field at fault
    (``entry``, ``entry.0.changes.1.value.leadgen_id``, …). Changes of other fields are skipped."""
    delivery = validated(MetaDelivery, payload, "Meta delivery")
    changes = []
    for i, entry in enumerate(delivery.entry or []):
        for j, change in enumerate(entry.changes or []):
            if change.field == "leadgen":
                changes.append(validated(MetaLeadgen, change.value, "Meta delivery", f"entry.{i}.changes.{j}.value"))
    return changes


def meta_lead(answer: object) -> MetaLead:
    """The Graph API's answer for a lead; raises InvalidField when it is not one."""
    return validated(MetaLead, answer, "Graph API lead")


def lead_from_meta(lead: MetaLead, change: MetaLeadgen) -> dict[str, Any]:
    body: dict[str, Any] = {"external_id": lead.id or change.leadgen_id}
    attributes: dict[str, Any] = {"form_id": change.form_id, "ad_id": change.ad_id}
    for answer in lead.field_data or []:
        values = answer.values or []
        if not values:
            continue
        if answer.name in META_FIELDS and META_FIELDS[answer.name] not in body:
            body[META_FIELDS[answer.name]] = values[0]
        else:
            attributes[answer.name] = values[0] if len(values) == 1 else values
    body["utm_source"] = "meta"
    body["attributes"] = {k: v for k, v in attributes.items() if v is not None}
    return body


def google_key(payload: object) -> str:
    """The ``google_key`` a lead form post carries ("" when none): compared before anything else is read."""
    key = payload.get("google_key") if isinstance(payload, dict) else None
    return key if isinstance(key, str) else ""


def google_lead_form(payload: object) -> GoogleLeadForm:
    """The submission; raises InvalidField naming the field at fault (``user_column_data.2.column_name``)."""
    return validated(GoogleLeadForm, payload, "Google lead form")


def lead_from_google(form: GoogleLeadForm) -> dict[str, Any]:
    body: dict[str, Any] = {"external_id": form.lead_id, "utm_source": "google_ads"}
    attributes: dict[str, Any] = form.model_dump(
        include={"form_id", "campaign_id", "adgroup_id", "creative_id", "gcl_id", "is_test"}, exclude_none=True)
    first = last = None
    for column in form.user_column_data or []:
        column_id, value = column.column_id, column.string_value
        if value is None:
            continue
        if column_id in GOOGLE_FIELDS and GOOGLE_FIELDS[column_id] not in body:
            body[GOOGLE_FIELDS[column_id]] = value
        elif column_id == "FIRST_NAME":
            first = value
        elif column_id == "LAST_NAME":
            last = value
        elif key := column.column_name or column_id:
            attributes[key] = value
    if "name" not in body and (first or last):
        body["name"] = " ".join(part for part in (first, last) if part)
    body["attributes"] = attributes
    return body


def known_fields_only(body: dict[str, Any]) -> dict[str, Any]:
    known = set(LeadIn.model_fields)
    return {k: v for k, v in body.items() if k in known}
