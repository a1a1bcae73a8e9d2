"""Lead webhooks of LinkedIn Lead Gen Forms and TikTok lead generation: what they send, as pydantic
models, how each is signed, and how it becomes a lead. Pure: the HTTP, the secrets, the clock and
LinkedIn's API calls are in ``lead_sync_api.py``.

Both deliver at least once, so a lead's platform id is its dedup key (``linkedin:<response id>``,
``tiktok:<lead id>``): a retried delivery maps to the same lead and changes nothing. Signatures are
checked over the raw bytes before any parsing, in constant time (PLATFORMS.md §8, §9):

- LinkedIn: ``X-LI-Signature`` = hex HMAC-SHA256(client secret, ``"hmacsha256=" + body``); its
  validation GET answers ``challengeResponse`` = hex HMAC-SHA256(client secret, challengeCode).
  A notification carries only URNs; the answers are read from the leadFormResponses API and mapped
  through the form's questions (their ``predefinedField``: FIRST_NAME, EMAIL, …).
- TikTok: ``TikTok-Signature: t=<unix seconds>,s=<hex HMAC-SHA256(client secret, t + "." + body)>``,
  refused outside the replay window the receiver chooses (five minutes here). ``content`` is a JSON
  string, parsed twice. TikTok's lead payload is not publicly documented (PLATFORMS.md §8 marks it
  unconfirmed): we take ``content`` with a ``lead_id`` and the answers either as a list of
  ``{"name"|"field_name"|"key", "value"}`` under ``fields``/``answers`` or as an object under
  ``user_info``/``answers``, matched to lead fields by the same synonyms as file imports.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import ConfigDict, StringConstraints

from leadrelay.services.intake.ad_platforms import PlatformId, PlatformPayload, validated
from leadrelay.services.intake.field_names import HEADER_SYNONYMS, normalised_header
from leadrelay.shared.security import constant_time_equal

LINKEDIN_API_URL = "https://api.linkedin.com"
LINKEDIN_VERSION = "202509"  # the LinkedIn-Version header: the versioned Marketing API we read
TIKTOK_TOLERANCE_S = 300

# LinkedIn's predefined form fields → lead fields (FIRST_NAME/LAST_NAME are joined into the name).
LINKEDIN_FIELDS = {
    "EMAIL": "email", "WORK_EMAIL": "email", "PHONE_NUMBER": "phone", "WORK_PHONE_NUMBER": "phone",
    "COMPANY_NAME": "company", "JOB_TITLE": "title", "CITY": "city", "STATE": "region", "COUNTRY": "country",
    "INDUSTRY": "industry", "COMPANY_WEBSITE": "website",
}
# TikTok answer names that the import synonyms don't already know.
TIKTOK_FIELDS = {"phonenumber": "phone", "fullname": "name", "companyname": "company", "jobtitle": "title"}

Urn = Annotated[str, StringConstraints(min_length=1, max_length=300)]


def _hmac_hex(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


# --- LinkedIn --------------------------------------------------------------------------------

def linkedin_challenge_response(client_secret: str, challenge_code: str) -> str:
    return _hmac_hex(client_secret, challenge_code.encode())


def linkedin_signature_valid(client_secret: str, raw_body: bytes, header: str | None) -> bool:
    if not header:
        return False
    return constant_time_equal(_hmac_hex(client_secret, b"hmacsha256=" + raw_body), header.strip())


class LinkedInOwner(PlatformPayload):
    sponsoredAccount: Urn | None = None  # noqa: N815 (LinkedIn's names)
    organization: Urn | None = None


class LinkedInNotification(PlatformPayload):
    """A Lead Sync notification: which form response, of which form, for which account."""

    type: Annotated[str, StringConstraints(max_length=50)]
    leadAction: Annotated[str, StringConstraints(max_length=50)]  # noqa: N815 CREATED or DELETED
    leadType: Annotated[str, StringConstraints(max_length=50)] | None = None  # noqa: N815
    leadGenFormResponse: Urn  # noqa: N815 (the dedup key)
    leadGenForm: Urn | None = None  # noqa: N815
    owner: LinkedInOwner | None = None
    occurredAt: int | None = None  # noqa: N815 (epoch milliseconds)


class LinkedInTextAnswer(PlatformPayload):
    answer: str | None = None


class LinkedInAnswerDetails(PlatformPayload):
    textQuestionAnswer: LinkedInTextAnswer | None = None  # noqa: N815


class LinkedInAnswer(PlatformPayload):
    questionId: int | None = None  # noqa: N815
    answerDetails: LinkedInAnswerDetails | None = None  # noqa: N815


class LinkedInConsent(PlatformPayload):
    consentId: int | None = None  # noqa: N815
    accepted: bool | None = None


class LinkedInFormResponseBody(PlatformPayload):
    answers: list[LinkedInAnswer] | None = None
    consentResponses: list[LinkedInConsent] | None = None  # noqa: N815


class LinkedInFormResponse(PlatformPayload):
    """A leadFormResponses record: the answers by question id; the form tells what each question is."""

    id: PlatformId
    versionedLeadGenFormUrn: Urn | None = None  # noqa: N815
    submittedAt: int | None = None  # noqa: N815
    testLead: bool | None = None  # noqa: N815
    formResponse: LinkedInFormResponseBody | None = None  # noqa: N815


class LinkedInQuestion(PlatformPayload):
    questionId: int  # noqa: N815
    name: Annotated[str, StringConstraints(max_length=200)] | None = None
    predefinedField: Annotated[str, StringConstraints(max_length=100)] | None = None  # noqa: N815


class LinkedInFormContent(PlatformPayload):
    questions: list[LinkedInQuestion] | None = None


class LinkedInForm(PlatformPayload):
    id: PlatformId | None = None
    content: LinkedInFormContent | None = None


def linkedin_notification(payload: object) -> LinkedInNotification:
    return validated(LinkedInNotification, payload, "LinkedIn notification")


def linkedin_form_response(payload: object) -> LinkedInFormResponse:
    return validated(LinkedInFormResponse, payload, "LinkedIn form response")


def linkedin_form(payload: object) -> LinkedInForm:
    return validated(LinkedInForm, payload, "LinkedIn lead form")


def urn_id(urn: str) -> str:
    """The id at the end of a URN: ``urn:li:leadGenFormResponse:abc`` → ``abc``."""
    return urn.rsplit(":", 1)[-1]


_FORM_URN = re.compile(r"urn:li:leadGenForm:(\d+)")


def linkedin_form_id(versioned_form_urn: str | None) -> str | None:
    """``urn:li:versionedLeadGenForm:(urn:li:leadGenForm:123,1)`` → ``123``."""
    match = _FORM_URN.search(versioned_form_urn or "")
    return match.group(1) if match else None


def lead_from_linkedin(response: LinkedInFormResponse, form: LinkedInForm | None) -> dict[str, Any]:
    """The lead: predefined answers into their fields, custom ones into attributes by question name."""
    questions = {q.questionId: q for q in ((form.content.questions or []) if form and form.content else [])}
    body: dict[str, Any] = {"external_id": response.id, "utm_source": "linkedin"}
    attributes: dict[str, Any] = {}
    first = last = None
    body_form = response.formResponse or LinkedInFormResponseBody()
    for answer in body_form.answers or []:
        text = answer.answerDetails.textQuestionAnswer.answer if (
            answer.answerDetails and answer.answerDetails.textQuestionAnswer) else None
        if text is None:
            continue
        question = questions.get(answer.questionId) if answer.questionId is not None else None
        predefined = question.predefinedField if question else None
        if predefined == "FIRST_NAME":
            first = text
        elif predefined == "LAST_NAME":
            last = text
        elif predefined in LINKEDIN_FIELDS and LINKEDIN_FIELDS[predefined] not in body:
            body[LINKEDIN_FIELDS[predefined]] = text
        else:
            attributes[(question.name if question and question.name else None) or predefined
                       or f"question {answer.questionId}"] = text
    if first or last:
        body["name"] = " ".join(part for part in (first, last) if part)
    consents = [c.accepted for c in body_form.consentResponses or [] if c.accepted is not None]
    if consents:
        body["consent"] = all(consents)
    if response.testLead:
        attributes["test_lead"] = True
    body["attributes"] = attributes
    return body


# --- TikTok ----------------------------------------------------------------------------------

def tiktok_signature_valid(client_secret: str, raw_body: bytes, header: str | None, now: datetime,
                           tolerance_s: int = TIKTOK_TOLERANCE_S) -> bool:
    """True for ``t=<unix>,s=<hex>`` signed with ``client_secret`` whose ``t`` is within
    ``tolerance_s`` of ``now`` (either way: a clock a little ahead is not an attack)."""
    parts = dict(part.strip().split("=", 1) for part in (header or "").split(",") if "=" in part)
    stamp, signature = parts.get("t", ""), parts.get("s", "")
    if not stamp.isdigit() or not signature:
        return False
    if abs(now.timestamp() - int(stamp)) > tolerance_s:
        return False
    return constant_time_equal(_hmac_hex(client_secret, stamp.encode() + b"." + raw_body), signature)


def tiktok_signature_nonce(header: str) -> str:
    """What a replay would repeat: the signature itself (it covers the timestamp and the body)."""
    return "tiktok:" + header.rsplit("s=", 1)[-1].strip()[:64]


class TikTokDelivery(PlatformPayload):
    client_key: Annotated[str, StringConstraints(max_length=200)] | None = None
    event: Annotated[str, StringConstraints(max_length=100)]
    create_time: int | None = None
    user_openid: Annotated[str, StringConstraints(max_length=200)] | None = None
    content: str  # JSON, as a string


class TikTokLead(PlatformPayload):
    """The lead inside ``content``: its id, and the answers in whichever of the shapes it uses."""

    model_config = ConfigDict(extra="allow", frozen=True, strict=True)

    lead_id: PlatformId
    advertiser_id: PlatformId | None = None
    page_id: PlatformId | None = None
    form_id: PlatformId | None = None


def tiktok_delivery(payload: object) -> TikTokDelivery:
    return validated(TikTokDelivery, payload, "TikTok delivery")


def tiktok_lead(content: object) -> TikTokLead:
    """The lead in a delivery's ``content`` (already parsed from its JSON string)."""
    return validated(TikTokLead, content, "TikTok lead", "content")


def _tiktok_answers(lead: TikTokLead) -> list[tuple[str, Any]]:
    extra = lead.model_extra or {}
    for key in ("fields", "answers", "user_info"):
        value = extra.get(key)
        if isinstance(value, list):
            answers = []
            for item in value:
                if isinstance(item, dict):
                    name = item.get("name") or item.get("field_name") or item.get("key")
                    if isinstance(name, str):
                        answers.append((name, item.get("value")))
            return answers
        if isinstance(value, dict):
            return list(value.items())
    return []


def lead_from_tiktok(lead: TikTokLead) -> dict[str, Any]:
    body: dict[str, Any] = {"external_id": lead.lead_id, "utm_source": "tiktok"}
    attributes: dict[str, Any] = {k: v for k, v in (("advertiser_id", lead.advertiser_id),
                                                    ("page_id", lead.page_id), ("form_id", lead.form_id)) if v}
    for name, value in _tiktok_answers(lead):
        if value is None or value == "":
            continue
        if isinstance(value, list | tuple):
            value = ", ".join(str(v) for v in value)
        key = normalised_header(name)
        field = TIKTOK_FIELDS.get(key) or HEADER_SYNONYMS.get(key)
        if field and field not in body and field not in ("external_id", "consent", "employees"):
            body[field] = str(value)
        else:
            attributes[name[:100]] = value if isinstance(value, str | int | float | bool) else str(value)
    body["attributes"] = attributes
    return body
