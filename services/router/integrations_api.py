"""Inbound from a CRM (or any system that works leads): ``POST /v1/integrations/activity``.

A rep who works in the CRM accepts, contacts, converts, loses or hands a lead over there; the CRM
tells us, and the SLA clocks stop as if the rep had acted here (``work.record_activity``, via
``crm``). The caller is an ``integration`` source: its API key as the bearer, and the body signed
the Standard Webhooks way with the source's ``whsec_`` secret (``webhook-id``, ``webhook-timestamp``
within five minutes, ``webhook-signature``), so integrators sign with the same library that
verifies our outbound webhooks. A replayed ``webhook-id`` is answered as before and changes nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import orjson
from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from leadrelay.services.router.work import ActivityIn, record_activity
from leadrelay.shared.clock import Clock
from leadrelay.shared.link_secret import link_secret
from leadrelay.shared.metrics import Metrics
from leadrelay.shared.ports import SourceRecord, Store, StoreUnavailable
from leadrelay.shared.problems import Forbidden, InvalidField, ServiceUnavailable, Unauthorized
from leadrelay.shared.secret_box import SecretBox, SecretUnreadable
from leadrelay.shared.security import Principal, hash_secret
from leadrelay.shared.settings import Settings
from leadrelay.shared.signed_webhooks import TOLERANCE, SignatureRefused, verify
from leadrelay.shared.web.content_types import require_media_type
from leadrelay.shared.web.deps import ClockDep, MetricsDep, SettingsDep, StoreDep, bearer
from leadrelay.shared.web.openapi import json_body, problems

INTEGRATION = "integration"
SIGNING_SECRET = "signing_secret"  # the source config's key: the sealed whsec_ secret


class IntegrationActivityIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lead_id: str = Field(min_length=1, max_length=64, description="The Leadrelay lead id.",
                         examples=["4c5e8f0a-5b7d-4f54-9f0f-0d7e6f1c2b3a"])
    action: Literal["accepted", "contacted", "converted", "lost", "reassign"] = Field(
        description="What happened in the CRM; `reassign` is an owner change (name the new owner in `to_rep`).",
        examples=["contacted"])
    reason: str | None = Field(default=None, max_length=500, description="Why (required for `lost`).")
    to_rep: str | None = Field(default=None, max_length=100, description="The new owner's rep id (reassign).")


async def integration_source(request: Request, store: Store) -> SourceRecord:
    """The active integration source whose key is the bearer; 401 for an unknown key, 403 for
    another kind of source."""
    digest = hash_secret(bearer(request))
    try:
        async with store.read() as uow:
            source = await uow.sources.by_key_hash(digest)
    except StoreUnavailable as exc:
        raise ServiceUnavailable("The credential store is unavailable; retry later.",
                                 headers={"Retry-After": "5"}) from exc
    if source is None:
        raise Unauthorized("Unknown or revoked credential.", errors=[{"field": "Authorization", "reason": "invalid key"}],
                           headers={"WWW-Authenticate": "Bearer"})
    if source.kind != INTEGRATION:
        raise Forbidden("Only an integration source may report activity.",
                        errors=[{"field": "Authorization", "reason": f"a {source.kind} source"}])
    return source


def signed_by(source: SourceRecord, settings: Settings, body: bytes, request: Request, now: datetime) -> str:
    """The request's webhook-id when the source signed ``body`` within the window; 401 otherwise."""
    try:
        secret = SecretBox(link_secret(settings)).open(str(source.config.get(SIGNING_SECRET, "")))
        return verify(secret, body, request.headers, now)
    except (SignatureRefused, SecretUnreadable) as exc:
        reason = exc.reason if isinstance(exc, SignatureRefused) else "no usable signing secret"
        raise Unauthorized("The request is not signed with the integration's secret, or not within five minutes.",
                           errors=[{"field": "webhook-signature", "reason": reason}]) from None


def parsed(body: bytes) -> IntegrationActivityIn:
    try:
        return IntegrationActivityIn.model_validate(orjson.loads(body))
    except orjson.JSONDecodeError:
        raise InvalidField("The body is not valid JSON.", errors=[{"field": "body", "reason": "invalid JSON"}],
                           status=400) from None
    except ValidationError as exc:
        raise InvalidField("Invalid activity.", errors=[
            {"field": ".".join(str(p) for p in e["loc"]) or "body", "reason": e["msg"]} for e in exc.errors()
        ]) from None


async def report_activity(request: Request, store: Store, clock: Clock, metrics: Metrics,
                          settings: Settings) -> dict[str, Any]:
    require_media_type(request.headers.get("content-type"))  # like every JSON route: before anything else
    source = await integration_source(request, store)
    body = await request.body()  # at most max_body_bytes (the app's body limit)
    now = clock()
    msg_id = signed_by(source, settings, body, request, now)
    activity = parsed(body)
    # The id is spent before the activity is recorded, so of two copies sent at once one acts;
    # an activity refused (a 409, an unknown lead) gives the id back, to be sent again once fixed.
    nonce = f"integration:{source.name}:{msg_id}"
    async with store.transaction() as uow:
        # Kept past the window: a replay after it is refused as stale anyway.
        fresh = await uow.tokens.spend_nonce(nonce, now + 2 * TOLERANCE)
    if not fresh:
        return {"lead_id": activity.lead_id, "replayed": True}
    principal = Principal(role=INTEGRATION, name=source.name)
    try:
        lead = await record_activity(store, clock, metrics, principal, activity.lead_id,
                                     ActivityIn(action=activity.action, reason=activity.reason,
                                                to_rep=activity.to_rep), via="crm")
    except BaseException:
        async with store.transaction() as uow:
            await uow.tokens.unspend_nonce(nonce)
        raise
    return {"lead_id": lead.lead_id, "replayed": False, "status": lead.state, "owner": lead.owner}


SIGNATURE_HEADERS = [
    {"name": name, "in": "header", "required": True, "schema": {"type": "string"}, "description": description}
    for name, description in (
        ("webhook-id", "A unique id for this message (no '.'); a replayed id changes nothing."),
        ("webhook-timestamp", "Unix seconds when it was signed; refused when more than five minutes off."),
        ("webhook-signature", "v1,<base64 HMAC-SHA256 of 'id.timestamp.body'> with the whsec_ secret."),
    )
]


def integrations_router() -> APIRouter:
    router = APIRouter(tags=["integrations"])

    @router.post("/v1/integrations/activity", openapi_extra={**json_body(
        IntegrationActivityIn, "What happened to the lead in the CRM, signed (Standard Webhooks)."),
        "parameters": SIGNATURE_HEADERS, "security": [{"bearer": []}]},  # an integration key, read by the route
        responses=problems(
            401, 403, 409, s401="No integration key, or the body is not signed with its secret within five minutes.",
            s403="The key is a source's of another kind.",
            s409="The lead's state does not allow this action, or no policy has been applied yet."))
    async def post_integration_activity(request: Request, store: StoreDep, clock: ClockDep, metrics: MetricsDep,
                                        settings: SettingsDep) -> dict[str, Any]:
        """Record a lead's activity from a CRM (accepted, contacted, converted, lost, an owner change):
        the SLA clocks stop as for a rep's own action. Bearer: an integration source's key; the body
        signed with its whsec_ secret (headers webhook-id, webhook-timestamp, webhook-signature)."""
        return await report_activity(request, store, clock, metrics, settings)

    return router
