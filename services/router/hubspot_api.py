"""``POST /v1/crm/hubspot/webhook``: HubSpot tells us a contact's owner or status changed, and the
lead it stands for is worked as if the rep had acted here (``work.record_activity``, via ``crm``):
a status change stops the SLA clocks, an owner change reassigns the lead. Signed by HubSpot
(v3, with the app's client secret, ``LEADRELAY_HUBSPOT_CLIENT_SECRET``); forged, stale and
replayed requests change nothing. Which lead a contact is comes from the connector's own writes
(``uow.crm_links``): a contact Leadrelay never wrote is not ours.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from fastapi import APIRouter, Request

from leadrelay.services.router import hubspot_webhooks as hubspot
from leadrelay.services.router.crm_inbound import linked_lead, record_crm_activities
from leadrelay.shared.clock import Clock
from leadrelay.shared.metrics import Metrics
from leadrelay.shared.policy import Policy
from leadrelay.shared.ports import Store
from leadrelay.shared.problems import InvalidField, NotFound, Unauthorized
from leadrelay.shared.settings import Settings
from leadrelay.shared.web.deps import ClockDep, MetricsDep, SettingsDep, StoreDep
from leadrelay.shared.web.openapi import problems

log = logging.getLogger(__name__)

HUBSPOT_WEBHOOK = "/v1/crm/hubspot/webhook"


def signed_url(request: Request, settings: Settings) -> str:
    """The URL HubSpot called, as it signed it: the public URL when we sit behind a proxy."""
    if settings.public_url:
        query = f"?{request.url.query}" if request.url.query else ""
        return settings.public_url.rstrip("/") + request.url.path + query
    return str(request.url)


async def receive(request: Request, store: Store, clock: Clock, metrics: Metrics, settings: Settings) -> dict[str, Any]:
    if not settings.hubspot_client_secret:
        raise NotFound("HubSpot webhooks are not set up here (LEADRELAY_HUBSPOT_CLIENT_SECRET).")
    body = await request.body()
    now = clock()
    try:
        hubspot.verify(settings.hubspot_client_secret, request.method, signed_url(request, settings), body,
                       request.headers, now)
    except hubspot.SignatureRefused as refused:
        metrics.crm_changes.labels("hubspot", refused.reason.replace(" ", "_")).inc()
        raise Unauthorized("Not a request signed by HubSpot, or not a recent one.",
                           errors=[{"field": "X-HubSpot-Signature-v3", "reason": refused.reason}]) from None
    signature = request.headers.get("x-hubspot-signature-v3", "")
    nonce = "hubspot:" + hashlib.sha256(signature.encode()).hexdigest()[:48]
    async with store.transaction() as uow:
        fresh = await uow.tokens.spend_nonce(nonce, now + 2 * hubspot.TOLERANCE)
    if not fresh:
        metrics.crm_changes.labels("hubspot", "replayed").inc()
        raise Unauthorized("This request was received before.",
                           errors=[{"field": "X-HubSpot-Signature-v3", "reason": "replayed"}])
    try:
        changes = hubspot.property_changes(body)
    except ValueError as exc:
        raise InvalidField("Not a HubSpot webhook body.", errors=[{"field": "body", "reason": str(exc)}]) from None
    outcomes = [await act_on(change, store, clock, metrics) for change in changes]
    for outcome in outcomes:
        metrics.crm_changes.labels("hubspot", outcome).inc()
    return {"received": len(changes), "recorded": sum(1 for outcome in outcomes if outcome == "recorded")}


async def act_on(change: hubspot.PropertyChange, store: Store, clock: Clock, metrics: Metrics) -> str:
    """``recorded``, or why not: ``unknown`` (a contact we never wrote), ``nothing_new``, or
    ``refused`` (the lead's state does not allow it, e.g. already closed). One change's refusal never fails the others."""
    linked = await linked_lead(store, "hubspot", change.contact_id)
    if linked is None:
        return "unknown"
    lead, policy = linked
    activity = hubspot.activity_for(change, lead.owner, reps_by_owner_id(policy))
    if activity is None:
        return "nothing_new"
    return await record_crm_activities(store, clock, metrics, "hubspot", lead.lead_id, [activity])


def reps_by_owner_id(policy: Policy) -> dict[str, str]:
    return {owner_id: rep for rep, owner_id in policy.crm_owners("hubspot").items()}


def hubspot_router() -> APIRouter:
    router = APIRouter(tags=["integrations"])

    @router.post(HUBSPOT_WEBHOOK, responses=problems(
        401, 404, 422, s401="Not signed by HubSpot (v3), not within five minutes, or received before.",
        s404="HubSpot webhooks are not set up here (no LEADRELAY_HUBSPOT_CLIENT_SECRET).",
        s422="Signed, but not a JSON array of HubSpot events."))
    async def hubspot_webhook(request: Request, store: StoreDep, clock: ClockDep, metrics: MetricsDep,
                              settings: SettingsDep) -> dict[str, Any]:
        """HubSpot's webhook (the app's target URL), for contact.propertyChange of hubspot_owner_id,
        lifecyclestage and hs_lead_status: an owner change reassigns the lead, a status change that
        says the rep worked it stops the SLA clocks. Signed v3 with the app's client secret."""
        return await receive(request, store, clock, metrics, settings)

    return router
