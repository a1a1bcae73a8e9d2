"""``POST /v1/crm/salesforce/outbound/{token}``: Salesforce's Outbound Message on Lead (fields Id,
OwnerId, Status) tells us a Lead's owner or status changed, and the lead it stands for is worked
as if the rep had acted here (``work.record_activity``, via ``crm``). The URL's token is
``LEADRELAY_SALESFORCE_OUTBOUND_TOKEN`` (the message is not signed); a notification seen before is
acknowledged and changes nothing. Which lead a Salesforce Lead is comes from the connector's own
writes (``uow.crm_links``). The answer is the SOAP ``<Ack>true</Ack>`` Salesforce waits for (anything
else it retries for a day).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from datetime import timedelta

from fastapi import APIRouter, Request, Response

from leadrelay.services.router import salesforce_outbound as outbound
from leadrelay.services.router.crm_inbound import linked_lead, record_crm_activities
from leadrelay.shared.clock import Clock
from leadrelay.shared.metrics import Metrics
from leadrelay.shared.ports import Store
from leadrelay.shared.problems import InvalidField, NotFound, Unauthorized
from leadrelay.shared.settings import Settings
from leadrelay.shared.web.deps import ClockDep, MetricsDep, SettingsDep, StoreDep
from leadrelay.shared.web.openapi import problems

log = logging.getLogger(__name__)

# Salesforce stops retrying a message after 24 hours: a notification id is remembered past that.
REMEMBER = timedelta(hours=25)


async def receive(token: str, request: Request, store: Store, clock: Clock, metrics: Metrics,
                  settings: Settings) -> Response:
    expected = settings.salesforce_outbound_token
    if not expected:
        raise NotFound("Salesforce Outbound Messages are not set up here (LEADRELAY_SALESFORCE_OUTBOUND_TOKEN).")
    if not hmac.compare_digest(token.encode(), expected.encode()):
        metrics.crm_changes.labels("salesforce", "bad_token").inc()
        raise Unauthorized("Not this Leadrelay's Outbound Message URL.", errors=[{"field": "token", "reason": "unknown"}])
    try:
        message = outbound.parse(await request.body())
    except ValueError as exc:
        raise InvalidField("Not a Salesforce Outbound Message.", errors=[{"field": "body", "reason": str(exc)}]
                           ) from None
    if settings.salesforce_org_id and message.organization_id[:15] != settings.salesforce_org_id[:15]:
        metrics.crm_changes.labels("salesforce", "other_org").inc()
        raise Unauthorized("The message comes from another Salesforce org.",
                           errors=[{"field": "OrganizationId", "reason": "not this org"}])
    for notification in message.notifications:
        outcome = await act_on(notification, store, clock, metrics)
        metrics.crm_changes.labels("salesforce", outcome).inc()
    return Response(outbound.ACK, media_type="text/xml; charset=utf-8")


async def act_on(notification: outbound.LeadNotification, store: Store, clock: Clock, metrics: Metrics) -> str:
    """``recorded``, ``replayed`` (this notification was acted on before), ``unknown`` (a Lead we
    never wrote), ``nothing_new``, or ``refused`` (the lead's state does not allow it)."""
    nonce = "salesforce:" + hashlib.sha256(notification.notification_id.encode()).hexdigest()[:48]
    async with store.transaction() as uow:
        if not await uow.tokens.spend_nonce(nonce, clock() + REMEMBER):
            return "replayed"
    try:
        return await act(notification, store, clock, metrics)
    except BaseException:  # not acted on (the store went away, …): Salesforce's retry may act
        async with store.transaction() as uow:
            await uow.tokens.unspend_nonce(nonce)
        raise


async def act(notification: outbound.LeadNotification, store: Store, clock: Clock, metrics: Metrics) -> str:
    linked = await linked_lead(store, "salesforce", notification.lead_id)
    if linked is None:
        return "unknown"
    lead, policy = linked
    reps = {user: rep for rep, user in policy.crm_owners("salesforce").items()}
    activities = outbound.activities_for(notification, lead.owner, lead.state, reps)
    if not activities:
        return "nothing_new"
    return await record_crm_activities(store, clock, metrics, "salesforce", lead.lead_id, activities)


def salesforce_router() -> APIRouter:
    router = APIRouter(tags=["integrations"])

    @router.post("/v1/crm/salesforce/outbound/{token}", response_class=Response,
                 responses={200: {"description": "The SOAP acknowledgement (<Ack>true</Ack>).",
                                  "content": {"text/xml": {"schema": {"type": "string"}}}},
                            **problems(401, 404, 422,
                                       s401="Not this Leadrelay's Outbound Message URL, or another org's message.",
                                       s404="Not set up here (no LEADRELAY_SALESFORCE_OUTBOUND_TOKEN).",
                                       s422="Not a Salesforce Outbound Message (SOAP notifications).")})
    async def salesforce_outbound_message(token: str, request: Request, store: StoreDep, clock: ClockDep,
                                          metrics: MetricsDep, settings: SettingsDep) -> Response:
        """Salesforce's Outbound Message on Lead (Id, OwnerId, Status): an owner change reassigns the
        lead, a status that says the rep worked it stops the SLA clocks. Answered with the SOAP Ack."""
        return await receive(token, request, store, clock, metrics, settings)

    return router
