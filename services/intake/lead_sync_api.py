"""Intake's routes for LinkedIn Lead Gen Forms and TikTok lead webhooks (the pure part, what they
send and how it is signed, is ``lead_sync.py``).

Each route checks the signature over the raw bytes (at most ``max_webhook_body_bytes``, held by the
app's body limit) against every active source of its kind, before anything is parsed; a delivery no
source signed is refused with 401 and changes nothing. A lead that cannot be read from LinkedIn's API
answers 502 so LinkedIn retries; the leads already accepted dedup on their platform ids.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import orjson
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from leadrelay.services.intake.api import accept_platform_lead, json_value, secret, sources_of_kind
from leadrelay.services.intake.lead_sync import (
    LINKEDIN_API_URL,
    LINKEDIN_VERSION,
    LinkedInForm,
    LinkedInFormResponse,
    LinkedInNotification,
    TikTokDelivery,
    lead_from_linkedin,
    lead_from_tiktok,
    linkedin_challenge_response,
    linkedin_form,
    linkedin_form_id,
    linkedin_form_response,
    linkedin_notification,
    linkedin_signature_valid,
    tiktok_delivery,
    tiktok_lead,
    tiktok_signature_valid,
    urn_id,
)
from leadrelay.shared.problems import InvalidField, NotFound, Problem, Unauthorized
from leadrelay.shared.web.body_limit import body_limit
from leadrelay.shared.web.content_types import require_media_type
from leadrelay.shared.web.deps import RuntimeDep, StoreDep
from leadrelay.shared.web.openapi import json_body, problems

Record = TypeVar("Record")

# A versioned LinkedIn form never changes, so its questions are fetched once per process.
_FORM_CACHE_SIZE = 256

LINKEDIN_CHALLENGE_PARAMETERS = [
    {"name": "challengeCode", "in": "query", "required": True,
     "schema": {"type": "string", "minLength": 1, "maxLength": 200},
     "description": "LinkedIn's validation challenge."},
    {"name": "applicationId", "in": "query", "required": False, "schema": {"type": "string", "maxLength": 200},
     "description": "The LinkedIn app, for parent/child apps: picks the source whose `application_id` it is."},
]


def lead_sync_router() -> APIRouter:
    router = APIRouter(tags=["lead sources"])
    forms: OrderedDict[str, LinkedInForm] = OrderedDict()

    @router.get("/v1/sources/linkedin/webhook", responses={
        200: {"description": "The challenge, answered with the client secret's HMAC.", "content": {
            "application/json": {"schema": {"type": "object", "properties": {
                "challengeCode": {"type": "string"}, "challengeResponse": {"type": "string"}}}}}},
        **problems(404, 422, s404="No LinkedIn source (for this applicationId).")},
        openapi_extra={"parameters": LINKEDIN_CHALLENGE_PARAMETERS})
    async def validate_linkedin_webhook(request: Request, store: StoreDep) -> JSONResponse:
        """LinkedIn's webhook validation: answer the challenge code with its HMAC (every 2 hours)."""
        code = request.query_params.get("challengeCode", "")
        if not code or len(code) > 200:
            raise InvalidField("challengeCode is required (at most 200 characters).",
                               errors=[{"field": "challengeCode", "reason": "missing or too long"}])
        application = request.query_params.get("applicationId")
        source = next((s for s in await sources_of_kind(store, "linkedin")
                       if secret(s.config.get("client_secret"))
                       and (application is None or s.config.get("application_id") == application)), None)
        if source is None:
            raise NotFound("No LinkedIn source.", errors=[{"field": "applicationId", "reason": "no such source"}])
        return JSONResponse({"challengeCode": code, "challengeResponse": linkedin_challenge_response(
            secret(source.config.get("client_secret")) or "", code)})

    @router.post("/v1/sources/linkedin/webhook", responses=problems(
        401, 409, 502, s401="X-LI-Signature is missing or matches no LinkedIn source's client secret.",
        s409="A form response already accepted came again with other answers; the first lead stands.",
        s502="The form response could not be read from LinkedIn's API; LinkedIn retries the notification."),
        openapi_extra=json_body(LinkedInNotification, "A Lead Sync notification, signed in X-LI-Signature."))
    @body_limit("max_webhook_body_bytes")
    async def receive_linkedin_webhook(request: Request, store: StoreDep, runtime: RuntimeDep) -> dict[str, Any]:
        """LinkedIn Lead Sync: verify X-LI-Signature, read the form response and its form, accept the lead."""
        raw = await request.body()
        signature = request.headers.get("x-li-signature")
        source = next((s for s in await sources_of_kind(store, "linkedin")
                       if (client_secret := secret(s.config.get("client_secret")))
                       and linkedin_signature_valid(client_secret, raw, signature)), None)
        if source is None:
            raise Unauthorized("Bad or missing X-LI-Signature.",
                               errors=[{"field": "X-LI-Signature", "reason": "signature mismatch"}])
        require_media_type(request.headers.get("content-type"))
        notification = linkedin_notification(json_value(raw))
        if notification.leadAction != "CREATED":
            # DELETED: the member withdrew the response on LinkedIn. The lead, if we have it, is ours
            # to keep or erase by our own rules; nothing to accept.
            return {"accepted": [], "ignored": notification.leadAction}
        api_url = (source.config.get("api_url") or LINKEDIN_API_URL).rstrip("/")
        headers = {"Authorization": f"Bearer {secret(source.config.get('access_token')) or ''}",
                   "LinkedIn-Version": LINKEDIN_VERSION, "X-Restli-Protocol-Version": "2.0.0"}
        async with httpx.AsyncClient(timeout=10, headers=headers) as http:
            response = await _linkedin_get(
                http, f"{api_url}/rest/leadFormResponses/{quote(urn_id(notification.leadGenFormResponse), safe='')}",
                "leadGenFormResponse", linkedin_form_response)
            form = await _linkedin_form(http, api_url, response, notification, forms)
        lead_id = await accept_platform_lead(runtime, source.name, "linkedin", lead_from_linkedin(response, form),
                                             f"linkedin:{urn_id(notification.leadGenFormResponse)}")
        return {"accepted": [lead_id]}

    @router.post("/v1/sources/tiktok/webhook", responses=problems(
        401, 409, s401="TikTok-Signature is missing, stale (outside five minutes) or matches no TikTok source.",
        s409="A lead_id already accepted came again with other answers; the first lead stands."),
        openapi_extra=json_body(TikTokDelivery, "TikTok's delivery, signed in TikTok-Signature; `content` is a "
                                                "JSON string holding the lead."))
    @body_limit("max_webhook_body_bytes")
    async def receive_tiktok_webhook(request: Request, store: StoreDep, runtime: RuntimeDep) -> dict[str, Any]:
        """TikTok lead generation: verify TikTok-Signature (and its timestamp), accept the lead."""
        raw = await request.body()
        signature = request.headers.get("tiktok-signature")
        now = runtime.clock()
        source = next((s for s in await sources_of_kind(store, "tiktok")
                       if (client_secret := secret(s.config.get("client_secret")))
                       and tiktok_signature_valid(client_secret, raw, signature, now)), None)
        if source is None:
            raise Unauthorized("Bad, stale or missing TikTok-Signature.",
                               errors=[{"field": "TikTok-Signature", "reason": "signature mismatch or too old"}])
        require_media_type(request.headers.get("content-type"))
        delivery = tiktok_delivery(json_value(raw))
        expected_key = source.config.get("client_key")
        if expected_key and delivery.client_key != expected_key:
            raise InvalidField("client_key is not this source's app.",
                               errors=[{"field": "client_key", "reason": "does not match the source"}])
        try:
            content = orjson.loads(delivery.content)
        except orjson.JSONDecodeError:
            raise InvalidField("content is not a JSON string.",
                               errors=[{"field": "content", "reason": "invalid JSON"}]) from None
        if not isinstance(content, dict) or "lead_id" not in content:
            return {"accepted": [], "ignored": delivery.event}  # another kind of event: acknowledged
        lead = tiktok_lead(content)
        lead_id = await accept_platform_lead(runtime, source.name, "tiktok", lead_from_tiktok(lead),
                                             f"tiktok:{lead.lead_id}")
        return {"accepted": [lead_id]}

    return router


async def _linkedin_get(http: httpx.AsyncClient, url: str, field: str, parse: Callable[[object], Record]) -> Record:
    """A record of LinkedIn's API, parsed; raises Problem (502) when it cannot be had or is not what
    we asked for, so LinkedIn retries the notification."""
    try:
        response = await http.get(url)
        response.raise_for_status()
        return parse(response.json())
    except (httpx.HTTPError, ValueError, InvalidField) as exc:  # ValueError: not JSON
        raise Problem("Could not read the lead from LinkedIn's API; retry later.", status=502,
                      errors=[{"field": field, "reason": type(exc).__name__}]) from exc


async def _linkedin_form(http: httpx.AsyncClient, api_url: str, response: LinkedInFormResponse,
                         notification: LinkedInNotification, cache: OrderedDict[str, LinkedInForm]
                         ) -> LinkedInForm | None:
    versioned = response.versionedLeadGenFormUrn or notification.leadGenForm
    form_id = linkedin_form_id(versioned)
    if versioned is None or form_id is None:
        return None  # the answers are kept by question id
    if versioned not in cache:
        cache[versioned] = await _linkedin_get(http, f"{api_url}/rest/leadForms/{form_id}", "leadGenForm",
                                               linkedin_form)
        while len(cache) > _FORM_CACHE_SIZE:
            cache.popitem(last=False)
    return cache[versioned]
