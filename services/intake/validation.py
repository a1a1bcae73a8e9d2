"""The lead a form posts, validated at the edge: every error names its field, nothing echoes PII."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from leadrelay.shared.events import LeadContact
from leadrelay.shared.identity import InvalidContact, country_code, normalise_email, normalise_phone
from leadrelay.shared.problems import InvalidField

# Free-form ``attributes`` are bounded at intake, so that what we accept we can also score, route,
# store and show: a lead nested hundreds of levels deep was once accepted (202) and then dead-lettered
# by scoring, which cannot serialise it. Bounds well beyond what any form asks:
MAX_ATTRIBUTES = 50  # keys in any one object of the attributes, the top level included
MAX_ATTRIBUTE_DEPTH = 8  # levels of objects and lists: {"a": 1} is 1 level, {"a": {"b": [1]}} is 3
MAX_ATTRIBUTE_BYTES = 16 * 1024  # the attributes serialised as compact JSON


class LeadIn(BaseModel):
    """The lead a web form or a source posts. Every field is optional, but a lead needs a way to reach
    the person: an ``email`` or a ``phone`` (or an ``external_id`` from the source)."""

    model_config = ConfigDict(
        # strict: a field is the JSON type the document declares (no "2000" for employees, no 0 for consent).
        extra="forbid", str_strip_whitespace=True, title="Lead", strict=True,
        json_schema_extra={"examples": [{
            "email": "li.wei@bigfactory.cn", "phone": "+86 138 0013 8000", "name": "Li Wei",
            "company": "Big Factory", "title": "CTO", "country": "CN", "region": "Shanghai",
            "industry": "manufacturing", "employees": 2000, "language": "zh", "utm_source": "google",
            "utm_campaign": "spring-expo", "consent": True, "attributes": {"product": "MES"},
        }]},
    )

    email: str | None = Field(
        default=None, max_length=320, examples=["li.wei@bigfactory.cn"],
        description="The person's email address. Stored normalised: lower-cased, without a `+tag`.")
    phone: str | None = Field(
        default=None, max_length=40, examples=["+86 138 0013 8000"],
        description="The person's phone number, in international form (`+86 …`) or local to `country`. "
                    "Stored in E.164 (`+8613800138000`).")
    name: str | None = Field(default=None, max_length=200, examples=["Li Wei"], description="The person's name.")
    company: str | None = Field(default=None, max_length=200, examples=["Big Factory"],
                                description="The company the person works for.")
    title: str | None = Field(default=None, max_length=200, examples=["CTO"],
                              description="The person's job title; scoring rules may match it.")
    country: str | None = Field(
        default=None, max_length=60, examples=["CN"],
        description="ISO 3166 alpha-2 code or a common English name (`CN`, `China`). Routes by territory "
                    "and is the region for a phone number written without `+`.")
    region: str | None = Field(default=None, max_length=100, examples=["Shanghai"],
                               description="Province, state or region; routes by territory.")
    city: str | None = Field(default=None, max_length=100, examples=["Shanghai"],
                             description="City; routes by territory.")
    industry: str | None = Field(default=None, max_length=100, examples=["manufacturing"],
                                 description="The company's industry; matched against the reps' industries.")
    employees: int | None = Field(default=None, ge=0, le=10_000_000, examples=[2000],
                                  description="The company's head count; scoring and routing rules may use it.")
    language: str | None = Field(default=None, max_length=20, examples=["zh"],
                                 description="The language the person prefers, as a tag (`zh`, `zh-CN`, `en`); "
                                             "matched against the reps' languages.")
    website: str | None = Field(default=None, max_length=300, examples=["https://bigfactory.cn"],
                                description="The company's website; finds the named account's owner.")
    utm_source: str | None = Field(default=None, max_length=200, examples=["google"],
                                   description="Campaign tracking: the `utm_source` of the visit.")
    utm_medium: str | None = Field(default=None, max_length=200, examples=["cpc"],
                                   description="Campaign tracking: the `utm_medium` of the visit.")
    utm_campaign: str | None = Field(default=None, max_length=200, examples=["spring-expo"],
                                     description="Campaign tracking: the `utm_campaign` of the visit.")
    utm_term: str | None = Field(default=None, max_length=200, examples=["mes software"],
                                 description="Campaign tracking: the `utm_term` of the visit.")
    utm_content: str | None = Field(default=None, max_length=200, examples=["banner-a"],
                                    description="Campaign tracking: the `utm_content` of the visit.")
    consent: bool | None = Field(default=None, examples=[True],
                                 description="Whether the person agreed to be contacted.")
    external_id: str | None = Field(
        default=None, max_length=200, examples=["form-7731"],
        description="The lead's id in the posting system. Enough to identify a lead that has no email or phone.")
    attributes: dict[str, Any] = Field(
        default_factory=dict, examples=[{"product": "MES", "budget": "100k"}],
        description=f"Anything else the form asked, kept with the lead: at most {MAX_ATTRIBUTES} keys in any "
                    f"object, nested at most {MAX_ATTRIBUTE_DEPTH} levels, at most {MAX_ATTRIBUTE_BYTES // 1024} KiB "
                    "as JSON.")

    @field_validator("attributes")
    @classmethod
    def _bounded_attributes(cls, value: dict[str, Any]) -> dict[str, Any]:
        if problem := attributes_problem(value):
            raise ValueError(problem)
        return value


def attributes_problem(attributes: dict[str, Any]) -> str | None:
    """Why ``attributes`` are over a bound, or None. Walks without recursion, and measures the size
    only once the depth is known to be small (a serialiser recurses)."""
    todo: list[tuple[object, int]] = [(attributes, 1)]
    while todo:
        node, depth = todo.pop()
        if depth > MAX_ATTRIBUTE_DEPTH:
            return f"nested more than {MAX_ATTRIBUTE_DEPTH} levels deep"
        if isinstance(node, dict):
            if len(node) > MAX_ATTRIBUTES:
                return f"at most {MAX_ATTRIBUTES} keys in an object"
            children: Iterable[object] = node.values()
        else:
            children = node  # type: ignore[assignment]
        todo.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    if len(orjson.dumps(attributes)) > MAX_ATTRIBUTE_BYTES:
        return f"at most {MAX_ATTRIBUTE_BYTES // 1024} KiB as JSON"
    return None


# pydantic's wording where it would name our classes ("a valid dictionary or instance of MetaLead").
REASONS = {"extra_forbidden": "unknown field", "model_type": "must be an object", "dict_type": "must be an object",
           "model_attributes_type": "must be an object"}


def field_errors(exc: ValidationError) -> list[dict[str, str]]:
    """pydantic's errors, without the ``input`` it would echo (an email, a phone number)."""
    errors = []
    for error in exc.errors(include_input=False, include_url=False):
        location = ".".join(str(part) for part in error["loc"]) or "body"
        reason = REASONS.get(error["type"], error["msg"])
        if error["type"] == "value_error":  # our validators' own words, without pydantic's "Value error, "
            reason = str(error.get("ctx", {}).get("error", reason))
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
