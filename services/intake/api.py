"""Intake's HTTP routes: leads posted by forms and sources."""

from __future__ import annotations

from typing import Annotated, Any

import httpx
import orjson
from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel

from leadrelay.services.intake.accept import accept_lead
from leadrelay.services.intake.ad_platforms import (
    GRAPH_URL,
    fetch_meta_lead,
    fingerprint,
    known_fields_only,
    lead_from_google,
    lead_from_meta,
    meta_leadgen_ids,
    meta_signature_valid,
    secret,
)
from leadrelay.services.intake.validation import parse_lead, to_contact
from leadrelay.shared.problems import (
    Forbidden,
    InvalidField,
    PayloadTooLarge,
    Problem,
    Unauthorized,
    UnsupportedMediaType,
)
from leadrelay.shared.runtime import Runtime
from leadrelay.shared.security import constant_time_equal
from leadrelay.shared.web.deps import PrincipalDep, RuntimeDep


class LeadAccepted(BaseModel):
    lead_id: str
    status: str = "accepted"


async def read_json_body(request: Request, max_bytes: int) -> object:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json" and not content_type.endswith("+json"):
        raise UnsupportedMediaType(
            f"Send JSON with 'Content-Type: application/json' (got '{content_type or 'none'}').",
            errors=[{"field": "Content-Type", "reason": "must be application/json"}],
        )
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise PayloadTooLarge(f"The body is over {max_bytes} bytes.", errors=[{"field": "body", "reason": "too large"}])
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > max_bytes:
            raise PayloadTooLarge(f"The body is over {max_bytes} bytes.", errors=[{"field": "body", "reason": "too large"}])
    request.state.raw_body = bytes(raw)
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise Problem(f"The body is not valid JSON: {exc.args[0] if exc.args else 'parse error'}",
                      errors=[{"field": "body", "reason": "invalid JSON"}]) from None


def intake_router() -> APIRouter:
    router = APIRouter(tags=["intake"])

    @router.post("/v1/leads", status_code=202, response_model=LeadAccepted,
                 responses={409: {"description": "Idempotency-Key reused with another body"},
                            422: {"description": "A field is invalid"}, 503: {"description": "Log down"}})
    async def post_lead(
        request: Request,
        runtime: RuntimeDep,
        principal: PrincipalDep,
        idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
    ) -> JSONResponse:
        """Accept a lead; answers 202 once it is durably stored."""
        if principal.role != "source":
            raise Forbidden("Only a lead source's API key can post leads.")
        try:
            body = await read_json_body(request, runtime.settings.max_body_bytes)
            lead = parse_lead(body)
            contact = to_contact(lead)
            if idempotency_key is not None and not idempotency_key.strip():
                raise InvalidField("Idempotency-Key is empty.",
                                   errors=[{"field": "Idempotency-Key", "reason": "empty"}])
        except Problem as problem:
            runtime.metrics.leads_rejected.labels(principal.name or "-", problem.type_slug).inc()
            raise
        accepted = await accept_lead(
            runtime, source=principal.name or "", source_kind="api", contact=contact,
            external_id=lead.external_id, dedup_key=idempotency_key, body_fingerprint=request.state.raw_body,
        )
        headers = {"Location": f"/v1/leads/{accepted.lead_id}"}
        if accepted.replayed:
            headers["Idempotent-Replayed"] = "true"
        return JSONResponse({"lead_id": accepted.lead_id, "status": "accepted"}, status_code=202, headers=headers)

    @router.get("/v1/sources/meta/webhook", response_class=PlainTextResponse, include_in_schema=True)
    async def verify_meta_webhook(runtime: RuntimeDep, request: Request) -> PlainTextResponse:
        """Meta's subscription handshake: echo hub.challenge when hub.verify_token is ours."""
        params = request.query_params
        token = params.get("hub.verify_token") or params.get("hub_verify_token") or ""
        challenge = params.get("hub.challenge") or params.get("hub_challenge") or ""
        mode = params.get("hub.mode") or params.get("hub_mode")
        for source in await sources_of_kind(runtime, "meta"):
            expected = secret(source.config.get("verify_token"))
            if mode == "subscribe" and expected and constant_time_equal(expected, token):
                return PlainTextResponse(challenge)
        raise Forbidden("Unknown verify token.", errors=[{"field": "hub.verify_token", "reason": "does not match"}])

    @router.post("/v1/sources/meta/webhook")
    async def receive_meta_webhook(runtime: RuntimeDep, request: Request) -> dict[str, Any]:
        """Meta Lead Ads: verify X-Hub-Signature-256, fetch each lead from the Graph API, accept it."""
        raw = await request.body()
        signature = request.headers.get("x-hub-signature-256")
        source = next((s for s in await sources_of_kind(runtime, "meta")
                       if (app_secret := secret(s.config.get("app_secret")))
                       and meta_signature_valid(app_secret, raw, signature)), None)
        if source is None:
            raise Unauthorized("Bad or missing X-Hub-Signature-256.",
                               errors=[{"field": "X-Hub-Signature-256", "reason": "signature mismatch"}])
        try:
            changes = meta_leadgen_ids(orjson.loads(raw))
        except (orjson.JSONDecodeError, ValueError, AttributeError) as exc:
            raise Problem(f"Not a leadgen webhook: {exc}", errors=[{"field": "body", "reason": "not a page event"}]
                          ) from None
        accepted = []
        graph_url = source.config.get("graph_url") or GRAPH_URL
        async with httpx.AsyncClient(timeout=10) as http:
            for change in changes:
                try:
                    fetched = await fetch_meta_lead(http, graph_url, str(change["leadgen_id"]),
                                                    secret(source.config.get("page_token")) or "")
                except httpx.HTTPError as exc:
                    # 5xx makes Meta retry the delivery; the leads already accepted dedup on their ids.
                    raise Problem("Could not fetch the lead from the Graph API; retry later.", status=502,
                                  errors=[{"field": "leadgen_id", "reason": type(exc).__name__}]) from exc
                body = lead_from_meta(fetched, change)
                accepted.append(await accept_platform_lead(runtime, source.name, "meta", body,
                                                           f"meta:{change['leadgen_id']}"))
        return {"accepted": accepted}

    @router.post("/v1/sources/google-ads/webhook")
    async def receive_google_ads_webhook(runtime: RuntimeDep, request: Request) -> dict[str, Any]:
        """Google Ads lead form: check google_key, then accept the lead (dedup on lead_id)."""
        payload = await read_json_body(request, runtime.settings.max_body_bytes)
        if not isinstance(payload, dict) or not payload.get("lead_id"):
            raise InvalidField("lead_id is required.", errors=[{"field": "lead_id", "reason": "missing"}])
        key = str(payload.get("google_key") or "")
        source = next((s for s in await sources_of_kind(runtime, "google_ads")
                       if (expected := secret(s.config.get("google_key"))) and constant_time_equal(expected, key)),
                      None)
        if source is None:
            raise Forbidden("google_key does not match any Google Ads source.",
                            errors=[{"field": "google_key", "reason": "does not match"}])
        body = lead_from_google(payload)
        lead_id = await accept_platform_lead(runtime, source.name, "google_ads", body, f"google:{payload['lead_id']}")
        return {"lead_id": lead_id, "status": "accepted"}

    return router


async def sources_of_kind(runtime: Runtime, kind: str) -> list[Any]:
    async with runtime.store.read() as uow:
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
                                 external_id=lead.external_id, dedup_key=dedup_key, body_fingerprint=fingerprint(body))
    return accepted.lead_id
