"""The lead a form posts, validated at the edge: every error names its field, nothing echoes PII."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from leadrelay.shared.events import LeadContact
from leadrelay.shared.identity import InvalidContact, country_code, normalise_email, normalise_phone
from leadrelay.shared.problems import InvalidField

MAX_ATTRIBUTES = 50


class LeadIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=40)
    name: str | None = Field(default=None, max_length=200)
    company: str | None = Field(default=None, max_length=200)
    title: str | None = Field(default=None, max_length=200)
    country: str | None = Field(default=None, max_length=60)
    region: str | None = Field(default=None, max_length=100)
    city: str | None = Field(default=None, max_length=100)
    industry: str | None = Field(default=None, max_length=100)
    employees: int | None = Field(default=None, ge=0, le=10_000_000)
    language: str | None = Field(default=None, max_length=20)
    website: str | None = Field(default=None, max_length=300)
    utm_source: str | None = Field(default=None, max_length=200)
    utm_medium: str | None = Field(default=None, max_length=200)
    utm_campaign: str | None = Field(default=None, max_length=200)
    utm_term: str | None = Field(default=None, max_length=200)
    utm_content: str | None = Field(default=None, max_length=200)
    consent: bool | None = None
    external_id: str | None = Field(default=None, max_length=200)
    attributes: dict[str, Any] = Field(default_factory=dict)

    @field_validator("attributes")
    @classmethod
    def _few_attributes(cls, value: dict[str, Any]) -> dict[str, Any]:
        if len(value) > MAX_ATTRIBUTES:
            raise ValueError(f"at most {MAX_ATTRIBUTES} attributes")
        return value


def field_errors(exc: ValidationError) -> list[dict[str, str]]:
    """pydantic's errors, without the ``input`` it would echo (an email, a phone number)."""
    errors = []
    for error in exc.errors(include_input=False, include_url=False):
        location = ".".join(str(part) for part in error["loc"]) or "body"
        reason = "unknown field" if error["type"] == "extra_forbidden" else error["msg"]
        errors.append({"field": location, "reason": reason})
    return errors


def parse_lead(body: Any) -> LeadIn:
    if not isinstance(body, dict):
        raise InvalidField("The body must be a JSON object.", errors=[{"field": "body", "reason": "not an object"}])
    try:
        return LeadIn.model_validate(body)
    except ValidationError as exc:
        errors = field_errors(exc)
        raise InvalidField(f"Invalid lead: {errors[0]['field']}: {errors[0]['reason']}", errors=errors) from None


def to_contact(lead: LeadIn) -> LeadContact:
    """Normalises email (lower-case, no tags) and phone (E.164); raises InvalidField naming it."""
    if not (lead.email or lead.phone or lead.external_id):
        raise InvalidField(
            "A lead needs a way to reach the person: email or phone (or an external_id from the source).",
            errors=[{"field": "email", "reason": "email or phone is required"}],
        )
    country = country_code(lead.country) if lead.country else None
    try:
        email = normalise_email(lead.email) if lead.email else None
        phone = normalise_phone(lead.phone, country) if lead.phone else None
    except InvalidContact as exc:
        raise InvalidField(f"Invalid {exc.field}: {exc.reason}", errors=[{"field": exc.field, "reason": exc.reason}]) from None
    fields = lead.model_dump(exclude={"email", "phone", "country", "external_id"})
    return LeadContact(email=email, phone=phone, country=country or lead.country, **fields)
