"""Every assignment reaches the CRMs, end to end through the embedded pipeline on the FakeClock: a
lead is posted and assigned, and the HubSpot contact and the Salesforce Lead carry the owner the
policy maps the rep to; a manager reassigns and both owners change, through a HubSpot rate limit
and an expired Salesforce session; no record is made twice. Back from the CRM: a status change in
HubSpot or Salesforce stops the SLA clocks, an owner change there reassigns the lead (and the other
CRM follows); forged, stale and replayed messages change nothing."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from leadrelay.services.notifier.subscriptions import create_subscription
from leadrelay.shared.link_secret import link_secret
from leadrelay.shared.secret_box import SecretBox
from tests.conftest import SLA_EPOCHS, FakeClock, Pipeline
from tests.platforms.chat_links import activities, chat_pipeline, lead_as_admin, one_rep_policy, pending, post
from tests.platforms.crm_fixtures import (
    HUBSPOT_OWNERS,
    SALESFORCE_OWNERS,
    hubspot_server,  # noqa: F401
    salesforce_server,  # noqa: F401
)
from tests.platforms.fake_chat import FakeChat
from tests.platforms.fake_hubspot import TOKEN, FakeHubSpot
from tests.platforms.fake_salesforce import CLIENT_ID, CLIENT_SECRET, EXTERNAL_ID_FIELD, ORG_ID, FakeSalesforce

CLIENT_SECRET_HUBSPOT = "hubspot-app-client-secret"
OUTBOUND_TOKEN = "sf-outbound-0123456789abcdef"
OUTBOUND = f"/v1/crm/salesforce/outbound/{OUTBOUND_TOKEN}"
WEBHOOK = "/v1/crm/hubspot/webhook"
WEBHOOK_URL = "http://leadrelay.test" + WEBHOOK  # as HubSpot calls it: the public URL


def crm_policy(chat: FakeChat) -> str:
    """rep-x and rep-y of the desk, each with a HubSpot owner (rep-x's own ``crm`` ids, rep-y's
    from the ``crm`` section's map) and a Salesforce user."""
    text = one_rep_policy(chat).replace(
        "    backup: rep-y\n",
        f"    backup: rep-y\n    crm: {{hubspot_owner_id: \"{HUBSPOT_OWNERS['rep-x']}\", "
        f"salesforce_owner_id: {SALESFORCE_OWNERS['rep-x']}}}\n")
    return text + (f"crm:\n  hubspot: {{owners: {{rep-y: \"{HUBSPOT_OWNERS['rep-y']}\"}}}}\n"
                   f"  salesforce: {{owners: {{rep-y: {SALESFORCE_OWNERS['rep-y']}}}}}\n")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(SLA_EPOCHS["future"])


@pytest.fixture
def hubspot(hubspot_server: FakeHubSpot, clock: FakeClock) -> FakeHubSpot:  # noqa: F811
    hubspot_server.reset()
    hubspot_server.clock = lambda: clock().timestamp()
    return hubspot_server


@pytest.fixture
def salesforce(salesforce_server: FakeSalesforce, clock: FakeClock) -> FakeSalesforce:  # noqa: F811
    salesforce_server.reset()
    salesforce_server.clock = lambda: clock().timestamp()
    return salesforce_server


@pytest.fixture
async def crm_app(tmp_path: Path, chat: FakeChat, clock: FakeClock, hubspot: FakeHubSpot,
                  salesforce: FakeSalesforce) -> AsyncIterator[Pipeline]:
    """The embedded pipeline with both connectors subscribed to ``lead.assigned``."""
    async with chat_pipeline("embedded", tmp_path, chat, crm_policy(chat), clock,
                             hubspot_client_secret=CLIENT_SECRET_HUBSPOT, salesforce_outbound_token=OUTBOUND_TOKEN,
                             salesforce_org_id=ORG_ID) as pipeline:
        box = SecretBox(link_secret(pipeline.runtime.settings))
        store = pipeline.runtime.store
        await create_subscription(store, box, url=hubspot.base_url or "", events=["lead.assigned"], target="hubspot",
                                  secret=TOKEN, config={})
        await create_subscription(store, box, url=salesforce.base_url or "", events=["lead.assigned"],
                                  target="salesforce", secret=CLIENT_SECRET,
                                  config={"client_id": CLIENT_ID, "external_id_field": EXTERNAL_ID_FIELD})
        yield pipeline


async def eventually(check: Callable[[], Any], what: str, timeout: float = 20.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        found = check()
        if found:
            return found
        assert asyncio.get_running_loop().time() < deadline, f"not seen: {what}"
        await asyncio.sleep(0.05)


def hubspot_owner(hubspot: FakeHubSpot, email: str) -> str | None:
    contact = hubspot.contact_by_email(email)
    return contact["properties"].get("hubspot_owner_id") if contact else None


def salesforce_owner(salesforce: FakeSalesforce, lead_id: str) -> str | None:
    lead = salesforce.lead_by_external_id(lead_id)
    return lead["OwnerId"] if lead else None


async def reassign(pipeline: Pipeline, lead_id: str, to_rep: str) -> None:
    manager = await pipeline.token("manager", "mgr-m")
    response = await pipeline.client.post(f"/v1/leads/{lead_id}/activity", json={"action": "reassign", "to_rep": to_rep},
                                          headers={"Authorization": f"Bearer {manager}"})
    assert response.status_code == 200, response.text


async def assigned_everywhere(pipeline: Pipeline, clock: FakeClock, hubspot: FakeHubSpot,
                              salesforce: FakeSalesforce) -> tuple[str, str]:
    email = "li.wei@bigfactory.cn"
    lead_id = await post(pipeline, email=email)
    await eventually(lambda: hubspot_owner(hubspot, email) == HUBSPOT_OWNERS["rep-x"], "HubSpot owner rep-x")
    await eventually(lambda: salesforce_owner(salesforce, lead_id) == SALESFORCE_OWNERS["rep-x"],
                     "Salesforce owner rep-x")
    return lead_id, email


async def test_an_assignment_and_a_reassignment_end_with_the_right_owner_in_both_crms(
        crm_app: Pipeline, clock: FakeClock, hubspot: FakeHubSpot, salesforce: FakeSalesforce):
    lead_id, email = await assigned_everywhere(crm_app, clock, hubspot, salesforce)
    contact = hubspot.contact_by_email(email)
    assert contact["properties"]["company"] == "Big Factory" and contact["properties"]["firstname"] == "Li"
    assert salesforce.lead_by_external_id(lead_id)["Company"] == "Big Factory"

    # Along the way: HubSpot's 10-second window is full, and Salesforce's session has expired.
    hubspot.set_limits(per_ten_seconds=1)
    salesforce.expire_tokens()
    await reassign(crm_app, lead_id, "rep-y")
    await eventually(lambda: salesforce_owner(salesforce, lead_id) == SALESFORCE_OWNERS["rep-y"],
                     "Salesforce owner rep-y after a new token")
    await eventually(lambda: hubspot.rate_limited(), "HubSpot's 429")
    assert hubspot_owner(hubspot, email) == HUBSPOT_OWNERS["rep-x"]  # held by Retry-After, not lost
    clock.advance(seconds=11)  # past the Retry-After and HubSpot's window
    await eventually(lambda: hubspot_owner(hubspot, email) == HUBSPOT_OWNERS["rep-y"], "HubSpot owner rep-y")

    assert len(hubspot.contacts) == 1 and len(salesforce.leads) == 1  # no duplicate records
    upserts = [status for status in salesforce.statuses("/sobjects/Lead/")]
    assert upserts == [201, 401, 204]  # created; the expired session refused; updated with a new token
    history = [h["kind"] for h in (await lead_as_admin(crm_app, lead_id))["history"]]
    assert history.count("webhook_delivered") == 4  # two writes to each CRM, on the lead's timeline


async def test_a_status_change_in_hubspot_stops_the_sla_clocks(crm_app: Pipeline, clock: FakeClock,
                                                               hubspot: FakeHubSpot, salesforce: FakeSalesforce):
    lead_id, email = await assigned_everywhere(crm_app, clock, hubspot, salesforce)
    assert pending(await lead_as_admin(crm_app, lead_id), "first_touch")
    contact_id = hubspot.contact_by_email(email)["id"]
    body, headers = hubspot.webhook(WEBHOOK_URL, [hubspot.property_change(contact_id, "hs_lead_status", "CONNECTED")],
                                    CLIENT_SECRET_HUBSPOT)
    response = await crm_app.client.post(WEBHOOK, content=body, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json() == {"received": 1, "recorded": 1}
    lead = await lead_as_admin(crm_app, lead_id)
    assert lead["status"] == "contacted" and pending(lead, "first_touch") == [] and pending(lead, "handoff") == []
    [activity] = await activities(crm_app, lead_id)
    assert (activity["action"], activity["via"], activity["actor"]) == ("contacted", "crm", "integration:hubspot")

    # HubSpot retries a webhook it thinks failed: the same change again records nothing new.
    body, headers = hubspot.webhook(WEBHOOK_URL, [hubspot.property_change(contact_id, "hs_lead_status", "CONNECTED")],
                                    CLIENT_SECRET_HUBSPOT, timestamp_ms=int(clock().timestamp() * 1000) + 1)
    again = await crm_app.client.post(WEBHOOK, content=body, headers=headers)
    assert again.status_code == 200 and again.json() == {"received": 1, "recorded": 0}
    assert len(await activities(crm_app, lead_id)) == 1


async def test_an_owner_change_in_hubspot_reassigns_the_lead_and_salesforce_follows(
        crm_app: Pipeline, clock: FakeClock, hubspot: FakeHubSpot, salesforce: FakeSalesforce):
    lead_id, email = await assigned_everywhere(crm_app, clock, hubspot, salesforce)
    contact_id = hubspot.contact_by_email(email)["id"]
    echo, echo_headers = hubspot.webhook(WEBHOOK_URL, [hubspot.property_change(
        contact_id, "hubspot_owner_id", HUBSPOT_OWNERS["rep-x"], source="INTEGRATION")], CLIENT_SECRET_HUBSPOT)
    ours = await crm_app.client.post(WEBHOOK, content=echo, headers=echo_headers)  # our own write, coming back
    assert ours.json() == {"received": 1, "recorded": 0}

    body, headers = hubspot.webhook(WEBHOOK_URL, [hubspot.property_change(
        contact_id, "hubspot_owner_id", HUBSPOT_OWNERS["rep-y"])], CLIENT_SECRET_HUBSPOT,
        timestamp_ms=int(clock().timestamp() * 1000) + 1)
    response = await crm_app.client.post(WEBHOOK, content=body, headers=headers)
    assert response.json() == {"received": 1, "recorded": 1}
    lead = await lead_as_admin(crm_app, lead_id)
    assert lead["owner"] == "rep-y"
    await eventually(lambda: salesforce_owner(salesforce, lead_id) == SALESFORCE_OWNERS["rep-y"],
                     "Salesforce follows HubSpot's owner")
    assert hubspot_owner(hubspot, email) == HUBSPOT_OWNERS["rep-y"]
    assert [(a["action"], a["to_rep"], a["via"]) for a in await activities(crm_app, lead_id)] == [
        ("reassign", "rep-y", "crm")]


async def test_forged_stale_and_replayed_hubspot_webhooks_change_nothing(
        crm_app: Pipeline, clock: FakeClock, hubspot: FakeHubSpot, salesforce: FakeSalesforce):
    lead_id, email = await assigned_everywhere(crm_app, clock, hubspot, salesforce)
    contact_id = hubspot.contact_by_email(email)["id"]
    events = [hubspot.property_change(contact_id, "lifecyclestage", "customer")]
    now_ms = int(clock().timestamp() * 1000)
    good, headers = hubspot.webhook(WEBHOOK_URL, events, CLIENT_SECRET_HUBSPOT)
    forged, forged_headers = hubspot.webhook(WEBHOOK_URL, events, "not-the-client-secret")
    stale, stale_headers = hubspot.webhook(WEBHOOK_URL, events, CLIENT_SECRET_HUBSPOT, timestamp_ms=now_ms - 301_000)
    other_url, other_headers = hubspot.webhook("http://elsewhere.test" + WEBHOOK, events, CLIENT_SECRET_HUBSPOT)
    tampered = good.replace(b"customer", b"salesqualifiedlead")
    attempts = [
        (forged, forged_headers, "bad signature"), (stale, stale_headers, "stale"),
        (other_url, other_headers, "bad signature"), (tampered, headers, "bad signature"),
        (good, {k: v for k, v in headers.items() if k != "X-HubSpot-Signature-v3"}, "unsigned"),
        (good, {**headers, "X-HubSpot-Request-Timestamp": str(now_ms + 400_000)}, "stale"),
    ]
    for body, attempt_headers, reason in attempts:
        response = await crm_app.client.post(WEBHOOK, content=body, headers=attempt_headers)
        assert response.status_code == 401, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["errors"] == [{"field": "X-HubSpot-Signature-v3", "reason": reason}]
    lead = await lead_as_admin(crm_app, lead_id)
    assert lead["status"] == "assigned" and pending(lead, "first_touch")
    assert await activities(crm_app, lead_id) == []

    first = await crm_app.client.post(WEBHOOK, content=good, headers=headers)
    assert first.status_code == 200 and first.json()["recorded"] == 1
    replayed = await crm_app.client.post(WEBHOOK, content=good, headers=headers)
    assert replayed.status_code == 401 and replayed.json()["errors"][0]["reason"] == "replayed"
    assert [a["action"] for a in await activities(crm_app, lead_id)] == ["converted"]
    counted = {outcome: crm_app.runtime.metrics.registry.get_sample_value(
        "leadrelay_crm_changes_total", {"crm": "hubspot", "outcome": outcome})
        for outcome in ("bad_signature", "stale", "unsigned", "replayed", "recorded")}
    assert counted == {"bad_signature": 3, "stale": 2, "unsigned": 1, "replayed": 1, "recorded": 1}


async def test_a_webhook_about_a_contact_leadrelay_never_wrote_is_received_and_ignored(
        crm_app: Pipeline, hubspot: FakeHubSpot):
    body, headers = hubspot.webhook(WEBHOOK_URL, [hubspot.property_change("999", "hs_lead_status", "CONNECTED"),
                                                  {"subscriptionType": "deal.creation", "objectId": 5}],
                                    CLIENT_SECRET_HUBSPOT)
    response = await crm_app.client.post(WEBHOOK, content=body, headers=headers)
    assert response.status_code == 200 and response.json() == {"received": 1, "recorded": 0}
    signed_junk, junk_headers = hubspot.webhook(WEBHOOK_URL, {"not": "an array"}, CLIENT_SECRET_HUBSPOT)  # type: ignore[arg-type]
    refused = await crm_app.client.post(WEBHOOK, content=signed_junk, headers=junk_headers)
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "body"


async def test_the_hubspot_webhook_is_not_there_without_the_client_secret(tmp_path: Path, chat: FakeChat,
                                                                          clock: FakeClock, hubspot: FakeHubSpot):
    async with chat_pipeline("embedded", tmp_path, chat, crm_policy(chat), clock) as pipeline:
        body, headers = hubspot.webhook(WEBHOOK_URL, [], CLIENT_SECRET_HUBSPOT)
        response = await pipeline.client.post(WEBHOOK, content=body, headers=headers)
        assert response.status_code == 404 and json.loads(response.content)["detail"].startswith("HubSpot webhooks")


# -- Salesforce Outbound Messages ---------------------------------------------------------------


async def post_outbound(pipeline: Pipeline, body: bytes, path: str = OUTBOUND) -> Any:
    return await pipeline.client.post(path, content=body, headers={"Content-Type": "text/xml; charset=utf-8"})


async def test_a_status_change_in_salesforce_stops_the_sla_clocks_and_is_acknowledged_once(
        crm_app: Pipeline, clock: FakeClock, hubspot: FakeHubSpot, salesforce: FakeSalesforce):
    lead_id, _ = await assigned_everywhere(crm_app, clock, hubspot, salesforce)
    record = salesforce.edit(salesforce.lead_by_external_id(lead_id)["Id"], Status="Working - Contacted")
    body = salesforce.outbound_message([record])
    response = await post_outbound(crm_app, body)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/xml") and b"<Ack>true</Ack>" in response.content
    lead = await lead_as_admin(crm_app, lead_id)
    assert lead["status"] == "contacted" and pending(lead, "first_touch") == []
    # Salesforce may deliver a notification twice: acknowledged again, acted on once.
    again = await post_outbound(crm_app, body)
    assert again.status_code == 200 and b"<Ack>true</Ack>" in again.content
    assert [(a["action"], a["via"], a["actor"]) for a in await activities(crm_app, lead_id)] == [
        ("contacted", "crm", "integration:salesforce")]
    metric = crm_app.runtime.metrics.registry.get_sample_value
    assert metric("leadrelay_crm_changes_total", {"crm": "salesforce", "outcome": "replayed"}) == 1


async def test_an_owner_change_in_salesforce_reassigns_the_lead_and_hubspot_follows(
        crm_app: Pipeline, clock: FakeClock, hubspot: FakeHubSpot, salesforce: FakeSalesforce):
    lead_id, email = await assigned_everywhere(crm_app, clock, hubspot, salesforce)
    sf_id = salesforce.lead_by_external_id(lead_id)["Id"]
    ours = await post_outbound(crm_app, salesforce.outbound_message([salesforce.lead_by_external_id(lead_id)]))
    assert ours.status_code == 200  # our own write of the owner, told back: nothing new
    record = salesforce.edit(sf_id, OwnerId=SALESFORCE_OWNERS["rep-y"])
    response = await post_outbound(crm_app, salesforce.outbound_message([record]))
    assert response.status_code == 200
    assert (await lead_as_admin(crm_app, lead_id))["owner"] == "rep-y"
    await eventually(lambda: hubspot_owner(hubspot, email) == HUBSPOT_OWNERS["rep-y"], "HubSpot follows Salesforce")
    assert [(a["action"], a["to_rep"]) for a in await activities(crm_app, lead_id)] == [("reassign", "rep-y")]
    assert len(salesforce.leads) == 1 and len(hubspot.contacts) == 1


async def test_outbound_messages_with_a_wrong_url_another_org_or_hostile_xml_change_nothing(
        crm_app: Pipeline, clock: FakeClock, hubspot: FakeHubSpot, salesforce: FakeSalesforce):
    lead_id, _ = await assigned_everywhere(crm_app, clock, hubspot, salesforce)
    record = salesforce.edit(salesforce.lead_by_external_id(lead_id)["Id"], Status="Closed - Converted")
    wrong_url = await post_outbound(crm_app, salesforce.outbound_message([record]),
                                    "/v1/crm/salesforce/outbound/" + "x" * len(OUTBOUND_TOKEN))
    assert wrong_url.status_code == 401 and wrong_url.headers["content-type"] == "application/problem+json"
    other_org = await post_outbound(crm_app, salesforce.outbound_message([record], organization_id="00D000000000009EAA"))
    assert other_org.status_code == 401 and other_org.json()["errors"][0]["field"] == "OrganizationId"
    bomb = (b'<?xml version="1.0"?><!DOCTYPE lol [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
            b"<notifications>&lol2;</notifications>")
    for hostile in (bomb, b"not xml", b"<a/>"):
        refused = await post_outbound(crm_app, hostile)
        assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "body"
    lead = await lead_as_admin(crm_app, lead_id)
    assert lead["status"] == "assigned" and await activities(crm_app, lead_id) == []
