"""Intake's HTTP routes: leads posted by forms and sources.

``POST /v1/leads`` reads its body itself, in the ``posted_lead`` dependency, rather than declaring
a ``LeadIn`` parameter for FastAPI to parse: FastAPI reads and decodes a declared body before it
runs any dependency, so the whole body would be in memory before the caller is authenticated or
the size limit is checked. Read here, the order is: the credential (401, 403), the Content-Type
(415), the size while the body streams in (413, without reading an over-size body to its end),
the JSON (400), then the fields (422). The OpenAPI document still describes the body: the route
declares it through ``openapi_extra`` from the same ``LeadIn`` model the dependency validates with.

The app's body limit (``shared/web/body_limit.py``) holds every route's body to its limit while it
streams in; the routes here check the size again as they read (defence in depth, and so a refused
lead is counted by its source). The ad platforms' webhooks take up to ``max_webhook_body_bytes``:
Meta batches changes, and the signature must be checked over the raw bytes before anything else.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import httpx
import orjson
from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi.responses import PlainTextResponse
from opentelemetry.trace import SpanKind
from pydantic import BaseModel, Field

from leadrelay.services.intake.accept import accept_lead, canonical_json
from leadrelay.services.intake.ad_platforms import (
    GRAPH_URL,
    GoogleLeadForm,
    MetaDelivery,
    MetaLead,
    google_key,
    google_lead_form,
    known_fields_only,
    lead_from_google,
    lead_from_meta,
    meta_lead,
    meta_leadgen_changes,
    meta_signature_valid,
)
from leadrelay.services.intake.validation import LeadIn, parse_lead, to_contact
from leadrelay.shared.events import LeadContact
from leadrelay.shared.metrics import Metrics
from leadrelay.shared.ports import Store
from leadrelay.shared.problems import (
    Conflict,
    Forbidden,
    InvalidField,
    Problem,
    ServiceUnavailable,
    Unauthorized,
    UnsupportedMediaType,
)
from leadrelay.shared.runtime import Runtime
from leadrelay.shared.security import Principal, constant_time_equal
from leadrelay.shared.settings import Settings
from leadrelay.shared.tracing import span
from leadrelay.shared.web.body_limit import body_limit, too_large
from leadrelay.shared.web.content_types import require_media_type
from leadrelay.shared.web.deps import MetricsDep, PrincipalDep, RuntimeDep, SettingsDep, StoreDep
from leadrelay.shared.web.openapi import json_body, problem_responses, problems


class LeadAccepted(BaseModel):
    """The lead is durably stored; scoring and routing follow asynchronously."""

    lead_id: str = Field(description="The lead's id. `GET /v1/leads/{lead_id}` shows its score, owner and decision.",
                         examples=["3f0c9a52-8d1e-4b7a-9c55-2e1f6b0d4a17"])
    status: Literal["accepted"] = Field(default="accepted", description="Always `accepted`.")


@dataclass(frozen=True)
class PostedLead:
    """A posted lead, validated: its fields, its contact normalised, and its fingerprint."""

    lead: LeadIn
    contact: LeadContact
    # What an Idempotency-Key is bound to: the body as parsed, in canonical JSON, so a retry of the
    # same object with its keys in another order or other spacing is the same body.
    fingerprint: bytes


async def read_body(request: Request, max_bytes: int) -> bytes:
    """Returns the body of a JSON request; raises UnsupportedMediaType (not ``application/json`` in
    UTF-8), or PayloadTooLarge as soon as the declared length or the bytes read so far are over
    ``max_bytes``."""
    require_media_type(request.headers.get("content-type"))
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise too_large(max_bytes)
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > max_bytes:
            raise too_large(max_bytes)
    return bytes(raw)


def json_value(raw: bytes) -> object:
    """Returns the decoded JSON; raises Problem (400) naming the body when it is not JSON."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise Problem(f"The body is not valid JSON: {exc.args[0] if exc.args else 'parse error'}",
                      errors=[{"field": "body", "reason": "invalid JSON"}]) from None


def count_rejection(metrics: Metrics, source: Principal, problem: Problem) -> None:
    metrics.leads_rejected.labels(source.name or "-", problem.type_slug).inc()


async def lead_source(principal: PrincipalDep) -> Principal:
    """The caller, who must be a lead source: only a source's API key posts leads."""
    if principal.role != "source":
        raise Forbidden("Only a lead source's API key can post leads.")
    return principal


SourceDep = Annotated[Principal, Depends(lead_source)]


async def posted_lead(request: Request, source: SourceDep, settings: SettingsDep, metrics: MetricsDep) -> PostedLead:
    """The body, read and validated here rather than by FastAPI (see the module docstring)."""
    try:
        body = json_value(await read_body(request, settings.max_body_bytes))
        lead = parse_lead(body)
        return PostedLead(lead=lead, contact=to_contact(lead), fingerprint=canonical_json(body))
    except Problem as problem:
        count_rejection(metrics, source, problem)
        raise


PostedLeadDep = Annotated[PostedLead, Depends(posted_lead)]

ACCEPTED_HEADERS = {
    "Location": {"description": "The lead's URL, `/v1/leads/{lead_id}`.", "schema": {"type": "string"}},
    "Idempotent-Replayed": {
        "description": "`true` when this answers a retry (same Idempotency-Key, same body) of a lead already accepted.",
        "schema": {"type": "string", "enum": ["true"]},
    },
}

DEFAULT_MAX_BODY: int = Settings.model_fields["max_body_bytes"].default

POST_LEAD_PROBLEMS = problem_responses(
    ("The body is not valid JSON.",
     Problem("The body is not valid JSON: unexpected end of data: line 1 column 27 (char 26)",
             errors=[{"field": "body", "reason": "invalid JSON"}])),
    ("No `Authorization: Bearer <source API key>`, or a key that is unknown or revoked.",
     Unauthorized("Unknown or revoked credential.", errors=[{"field": "Authorization", "reason": "invalid key"}],
                  headers={"WWW-Authenticate": "Bearer"})),
    ("The credential is not a lead source's API key.",
     Forbidden("Only a lead source's API key can post leads.")),
    ("The Idempotency-Key was already used with a different body; nothing was stored.",
     Conflict("This Idempotency-Key was already used with a different body.",
              errors=[{"field": "Idempotency-Key", "reason": "reused with a different body"}])),
    (f"The body is over the size limit (`LEADRELAY_MAX_BODY_BYTES`, {DEFAULT_MAX_BODY // 1024} KiB by default). "
     "It is refused as soon as it is over, without being read to its end.",
     too_large(DEFAULT_MAX_BODY)),
    ("The body is not sent as `application/json` (UTF-8; `charset=utf-8` may be given).",
     UnsupportedMediaType("Send the body as application/json (got 'text/plain').",
                          errors=[{"field": "Content-Type", "reason": "must be application/json"}])),
    ("A field is invalid or unknown, the body is not a JSON object, or the lead has no email, phone or "
     "external_id; `errors` names each field. Nothing was stored.",
     InvalidField("Invalid email: An email address must have an @-sign.",
                  errors=[{"field": "email", "reason": "An email address must have an @-sign."}])),
    ("The event log or the database is unavailable; nothing was stored. Retry after `Retry-After` seconds.",
     ServiceUnavailable("The event log is unavailable; the lead was not stored. Retry later.",
                        headers={"Retry-After": "5"})),
    instance="/v1/leads",
)


# What the webhooks read themselves (the raw bytes first: a signature or a key is checked before
# the body is parsed), declared from the same models they validate with.
META_HANDSHAKE_PARAMETERS = [
    {"name": "hub.mode", "in": "query", "required": False, "schema": {"type": "string", "enum": ["subscribe"]},
     "description": "`subscribe`."},
    {"name": "hub.verify_token", "in": "query", "required": False, "schema": {"type": "string"},
     "description": "The Meta source's `verify_token`."},
    {"name": "hub.challenge", "in": "query", "required": False, "schema": {"type": "string"},
     "description": "Echoed back as the `text/plain` body when the token matches."},
]
GOOGLE_LEAD_BODY = json_body(GoogleLeadForm, "Google's lead form submission, with the source's `google_key`.")
_google_schema = GOOGLE_LEAD_BODY["requestBody"]["content"]["application/json"]["schema"]
_google_schema["properties"]["google_key"] = {"type": "string", "description": "The Google Ads source's key."}
_google_schema["required"] = [*_google_schema.get("required", []), "google_key"]


def intake_router() -> APIRouter:
    router = APIRouter(tags=["intake"])

    @router.post(
        "/v1/leads", status_code=202, response_model=LeadAccepted,
        response_description="The lead is durably stored: fsynced to the event log, or acknowledged by Kafka.",
        responses={202: {"headers": ACCEPTED_HEADERS}, **POST_LEAD_PROBLEMS},
        openapi_extra=json_body(LeadIn, "The lead, as `Content-Type: application/json`."),
    )
    async def post_lead(
        posted: PostedLeadDep,
        source: SourceDep,
        runtime: RuntimeDep,
        metrics: MetricsDep,
        response: Response,
        idempotency_key: Annotated[str | None, Header(
            max_length=200,
            description="Makes retries safe: the same key with the same body answers with the first lead; "
                        "with another body, 409.")] = None,
    ) -> LeadAccepted:
        """Accept a lead; answers 202 once it is durably stored."""
        if idempotency_key is not None and not idempotency_key.strip():
            problem = InvalidField("Idempotency-Key is empty.", errors=[{"field": "Idempotency-Key", "reason": "empty"}])
            count_rejection(metrics, source, problem)
            raise problem
        accepted = await accept_lead(
            runtime, source=source.name or "", source_kind="api", contact=posted.contact,
            external_id=posted.lead.external_id, dedup_key=idempotency_key, body_fingerprint=posted.fingerprint,
        )
        response.headers["Location"] = f"/v1/leads/{accepted.lead_id}"
        if accepted.replayed:
            response.headers["Idempotent-Replayed"] = "true"
        return LeadAccepted(lead_id=accepted.lead_id)

    @router.get("/v1/sources/meta/webhook", response_class=PlainTextResponse, include_in_schema=True,
                responses=problems(403, s403="hub.verify_token matches no Meta source, or hub.mode is not subscribe."),
                openapi_extra={"parameters": META_HANDSHAKE_PARAMETERS})
    async def verify_meta_webhook(store: StoreDep, request: Request) -> PlainTextResponse:
        """Meta's subscription handshake: echo hub.challenge when hub.verify_token is ours."""
        params = request.query_params
        token = params.get("hub.verify_token") or params.get("hub_verify_token") or ""
        challenge = params.get("hub.challenge") or params.get("hub_challenge") or ""
        mode = params.get("hub.mode") or params.get("hub_mode")
        for source in await sources_of_kind(store, "meta"):
            expected = secret(source.config.get("verify_token"))
            if mode == "subscribe" and expected and constant_time_equal(expected, token):
                return PlainTextResponse(challenge)
        raise Forbidden("Unknown verify token.", errors=[{"field": "hub.verify_token", "reason": "does not match"}])

    @router.post("/v1/sources/meta/webhook", responses=problems(
        401, 409, 502, s401="X-Hub-Signature-256 is missing or matches no Meta source's app secret.",
        s409="A leadgen_id already accepted came again with other answers; the first lead stands.",
        s502="A lead could not be fetched from the Graph API; Meta retries the delivery."),
        openapi_extra=json_body(MetaDelivery, "Meta's delivery, signed with the app secret in X-Hub-Signature-256."))
    @body_limit("max_webhook_body_bytes")
    async def receive_meta_webhook(request: Request, store: StoreDep, runtime: RuntimeDep) -> dict[str, Any]:
        """Meta Lead Ads: verify X-Hub-Signature-256, fetch each lead from the Graph API, accept it."""
        raw = await request.body()  # at most max_webhook_body_bytes: the app's body limit holds it
        signature = request.headers.get("x-hub-signature-256")
        source = next((s for s in await sources_of_kind(store, "meta")
                       if (app_secret := secret(s.config.get("app_secret")))
                       and meta_signature_valid(app_secret, raw, signature)), None)
        if source is None:
            raise Unauthorized("Bad or missing X-Hub-Signature-256.",
                               errors=[{"field": "X-Hub-Signature-256", "reason": "signature mismatch"}])
        require_media_type(request.headers.get("content-type"))
        changes = meta_leadgen_changes(json_value(raw))
        accepted = []
        graph_url = source.config.get("graph_url") or GRAPH_URL
        # The leads of one delivery are children of its span (one trace per delivery).
        with span(runtime.tracer, "intake.webhook", kind=SpanKind.SERVER, platform="meta", source=source.name,
                  leads=len(changes)):
            async with httpx.AsyncClient(timeout=10) as http:
                for change in changes:
                    fetched = await fetch_meta_lead(http, graph_url, change.leadgen_id,
                                                    secret(source.config.get("page_token")) or "")
                    body = lead_from_meta(fetched, change)
                    accepted.append(await accept_platform_lead(runtime, source.name, "meta", body,
                                                               f"meta:{change.leadgen_id}"))
        return {"accepted": accepted}

    @router.post("/v1/sources/google-ads/webhook", responses=problems(
        403, 409, s403="google_key matches no Google Ads source.",
        s409="A lead_id already accepted came again with other answers; the first lead stands."),
        openapi_extra=GOOGLE_LEAD_BODY)
    @body_limit("max_webhook_body_bytes")
    async def receive_google_ads_webhook(request: Request, store: StoreDep, settings: SettingsDep,
                                         runtime: RuntimeDep) -> dict[str, Any]:
        """Google Ads lead form: check google_key, then accept the lead (dedup on lead_id)."""
        payload = json_value(await read_body(request, settings.max_webhook_body_bytes))
        if not isinstance(payload, dict):
            raise InvalidField("The body must be a JSON object.", errors=[{"field": "body", "reason": "not an object"}])
        key = google_key(payload)
        source = next((s for s in await sources_of_kind(store, "google_ads")
                       if (expected := secret(s.config.get("google_key"))) and constant_time_equal(expected, key)),
                      None)
        if source is None:
            raise Forbidden("google_key does not match any Google Ads source.",
                            errors=[{"field": "google_key", "reason": "does not match"}])
        form = google_lead_form(payload)
        with span(runtime.tracer, "intake.webhook", kind=SpanKind.SERVER, platform="google_ads", source=source.name,
                  leads=1):
            lead_id = await accept_platform_lead(runtime, source.name, "google_ads", lead_from_google(form),
                                                 f"google:{form.lead_id}")
        return {"lead_id": lead_id, "status": "accepted"}

    return router


def secret(value: str | None) -> str | None:
    """Config values may name an environment variable (``env:META_APP_SECRET``) instead of holding the secret."""
    if value and value.startswith("env:"):
        return os.environ.get(value[4:])
    return value


async def fetch_meta_lead(http: httpx.AsyncClient, graph_url: str, leadgen_id: str, page_token: str) -> MetaLead:
    """The lead's answers from the Graph API; raises Problem (502) when it cannot be had, so Meta
    retries the delivery (for up to 36 hours; the leads already accepted dedup on their ids)."""
    try:
        response = await http.get(f"{graph_url.rstrip('/')}/{leadgen_id}", params={"access_token": page_token})
        response.raise_for_status()
        return meta_lead(response.json())
    except (httpx.HTTPError, ValueError, InvalidField) as exc:  # ValueError: not JSON; InvalidField: not a lead
        raise Problem("Could not fetch the lead from the Graph API; retry later.", status=502,
                      errors=[{"field": "leadgen_id", "reason": type(exc).__name__}]) from exc


async def sources_of_kind(store: Store, kind: str) -> list[Any]:
    async with store.read() as uow:
        return [s for s in await uow.sources.list() if s.kind == kind and s.revoked_at is None]


async def accept_platform_lead(runtime: Runtime, source: str, kind: str, body: dict[str, Any], dedup_key: str) -> str:
    """A platform lead is never refused for one bad contact field while another reaches the
    person: refusing would only make the platform retry the same bad value for days."""
    body = known_fields_only(body)
    lead = parse_lead(body)
    try:
        contact = to_contact(lead)
    except InvalidField as problem:
        bad = problem.errors[0]["field"] if problem.errors else ""
        if bad not in ("email", "phone") or not any(body.get(f) for f in ("email", "phone") if f != bad):
            raise
        unverified = {f"unverified_{bad}": body[bad]}
        body = {k: v for k, v in body.items() if k != bad}
        body["attributes"] = {**body.get("attributes", {}), **unverified}
        lead = parse_lead(body)
        contact = to_contact(lead)
    accepted = await accept_lead(runtime, source=source, source_kind=kind, contact=contact,
                                 external_id=lead.external_id, dedup_key=dedup_key,
                                 body_fingerprint=canonical_json(body))
    return accepted.lead_id
