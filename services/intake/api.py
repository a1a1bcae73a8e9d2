"""Intake's HTTP routes: leads posted by forms and sources."""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from services.intake.accept import accept_lead
from services.intake.validation import parse_lead, to_contact
from shared.http import PrincipalDep, RuntimeDep
from shared.problems import Forbidden, InvalidField, PayloadTooLarge, Problem, UnsupportedMediaType


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
        body = await read_json_body(request, runtime.settings.max_body_bytes)
        lead = parse_lead(body)
        contact = to_contact(lead)
        if idempotency_key is not None and not idempotency_key.strip():
            raise InvalidField("Idempotency-Key is empty.", errors=[{"field": "Idempotency-Key", "reason": "empty"}])
        accepted = await accept_lead(
            runtime, source=principal.name or "", source_kind="api", contact=contact,
            external_id=lead.external_id, dedup_key=idempotency_key, body_fingerprint=request.state.raw_body,
        )
        headers = {"Location": f"/v1/leads/{accepted.lead_id}"}
        if accepted.replayed:
            headers["Idempotent-Replayed"] = "true"
        return JSONResponse({"lead_id": accepted.lead_id, "status": "accepted"}, status_code=202, headers=headers)

    return router
