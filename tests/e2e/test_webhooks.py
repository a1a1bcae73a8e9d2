"""Webhook subscriptions and signed CRM activity through the whole embedded pipeline, on the
product's FakeClock: the admin API, a subscriber that hears every event of a lead's life (each
signed and verified by a local receiver with the ``standardwebhooks`` library), and a CRM whose
signed "contacted" stops the SLA ladder while forged, stale and replayed ones change nothing."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from standardwebhooks import Webhook

from leadrelay.services.router.scheduler import SlaScheduler
from leadrelay.shared.events import new_id
from leadrelay.shared.settings import Settings
from leadrelay.shared.shell.bootstrap import build_runtime, create_integration_source
from leadrelay.shared.signed_webhooks import new_secret
from tests.conftest import FakeClock, Pipeline, running_pipeline, start_pipeline, stop_pipeline
from tests.platforms.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.timeout(90)

HOT = {"email": "boss@bigfactory.cn", "name": "Wang Fang", "company": "Big Factory", "title": "CEO",
       "employees": 5000}
EVERY_EVENT = ["lead.assigned", "lead.activity", "lead.sla", "lead.recycled", "person.merged", "person.erased"]


@pytest.fixture
def receiver(clock: FakeClock) -> Iterator[WebhookReceiver]:
    with WebhookReceiver("whsec_unset", clock).serve() as running:
        yield running


@pytest.fixture
async def pipeline(tmp_path: Path, chat, clock: FakeClock) -> AsyncIterator[Pipeline]:
    settings = Settings(data_dir=tmp_path / "data", public_url="http://leadrelay.test")
    running = await start_pipeline(build_runtime(settings, clock), chat, embedded=True)
    yield running[0]
    await stop_pipeline(*running)


@pytest.fixture(params=["embedded", pytest.param("distributed", marks=[pytest.mark.kafka, pytest.mark.postgres])])
async def either_pipeline(request: pytest.FixtureRequest, tmp_path: Path, chat, clock: FakeClock
                          ) -> AsyncIterator[Pipeline]:
    """SQLite and the local log, or PostgreSQL and Kafka (the notifier group reads four topics there)."""
    async with running_pipeline(request.param, tmp_path, chat, clock=clock) as running:
        yield running


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def lead_of(pipeline: Pipeline, lead_id: str) -> dict:
    response = await pipeline.client.get(f"/v1/leads/{lead_id}", headers=bearer(await pipeline.token("admin")))
    assert response.status_code == 200
    return response.json()


async def received(receiver: WebhookReceiver, count: int, timeout: float = 20) -> list:
    deadline = asyncio.get_running_loop().time() + timeout
    while len(receiver.received) < count:
        assert asyncio.get_running_loop().time() < deadline, f"{len(receiver.received)} of {count} webhooks arrived"
        await asyncio.sleep(0.05)
    return receiver.received


async def test_the_admin_api_creates_lists_rotates_and_removes_and_only_admins_may(pipeline: Pipeline):
    admin = bearer(await pipeline.token("admin"))
    created = await pipeline.client.post("/v1/webhooks", headers=admin, json={
        "url": "https://crm.example.com/hooks", "events": ["lead.assigned", "person.erased"]})
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["secret"].startswith("whsec_") and body["events"] == ["lead.assigned", "person.erased"]
    listed = (await pipeline.client.get("/v1/webhooks", headers=admin)).json()["webhooks"]
    assert [w["id"] for w in listed] == [body["id"]]
    assert "secret" not in listed[0] and body["secret"] not in json.dumps(listed)  # shown once, never again

    rotated = await pipeline.client.post(f"/v1/webhooks/{body['id']}/rotate-secret", headers=admin)
    assert rotated.status_code == 200 and rotated.json()["secret"] not in (body["secret"], None)

    for role, rep in (("rep", "rep-a"), ("manager", "mgr-a")):
        other = bearer(await pipeline.token(role, rep))
        answers = [await pipeline.client.get("/v1/webhooks", headers=other),
                   await pipeline.client.post("/v1/webhooks", headers=other,
                                              json={"url": "https://x.example.com", "events": ["lead.assigned"]}),
                   await pipeline.client.delete(f"/v1/webhooks/{body['id']}", headers=other),
                   await pipeline.client.get("/v1/webhook-deliveries", headers=other)]
        assert [a.status_code for a in answers] == [403] * 4
    assert (await pipeline.client.get("/v1/webhooks")).status_code == 401

    bad = await pipeline.client.post("/v1/webhooks", headers=admin, json={"url": "ftp://x", "events": ["lead.assigned"]})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "url"
    bad = await pipeline.client.post("/v1/webhooks", headers=admin, json={"url": "https://x.example.com",
                                                                         "events": ["lead.deleted"]})
    assert bad.status_code == 422 and "events" in bad.json()["errors"][0]["field"]
    huge = await pipeline.client.post("/v1/webhooks", headers=admin, json={
        "url": "https://x.example.com", "events": ["lead.assigned"], "config": {"x": "y" * 100_000}})
    assert huge.status_code == 413
    assert (await pipeline.client.delete("/v1/webhooks/wh_unknown", headers=admin)).status_code == 404
    assert (await pipeline.client.post("/v1/webhook-deliveries/999/redrive", headers=admin)).status_code == 404

    removed = await pipeline.client.delete(f"/v1/webhooks/{body['id']}", headers=admin)
    assert removed.status_code == 200 and removed.json()["removed"] is True
    assert (await pipeline.client.get("/v1/webhooks", headers=admin)).json()["webhooks"] == []


async def test_a_subscriber_hears_every_event_of_a_leads_life_signed(either_pipeline: Pipeline,
                                                                     receiver: WebhookReceiver, clock: FakeClock):
    pipeline = either_pipeline
    admin = bearer(await pipeline.token("admin"))
    created = (await pipeline.client.post("/v1/webhooks", headers=admin,
                                          json={"url": receiver.url, "events": EVERY_EVENT})).json()
    receiver.secret = created["secret"]

    lead_id = (await pipeline.post_lead(HOT)).json()["lead_id"]
    owner = (await pipeline.wait_for(lead_id))["owner"]
    await received(receiver, 1)
    clock.advance(minutes=8)  # hot: 15 min to first touch, reminded at half time
    await SlaScheduler(pipeline.runtime.store, pipeline.runtime.metrics, pipeline.runtime.clock).fire_due()
    await received(receiver, 2)
    acted = await pipeline.client.post(f"/v1/leads/{lead_id}/activity", json={"action": "contacted"},
                                       headers=bearer(await pipeline.token("rep", owner)))
    assert acted.status_code == 200
    events = await received(receiver, 3)

    assert receiver.refused == []
    assert [(e.type, e.data["lead_id"]) for e in events] == [
        ("lead.assigned", lead_id), ("lead.sla", lead_id), ("lead.activity", lead_id)]
    assert events[0].data["owner"] == owner and events[0].data["lead"]["contact"]["email"] == HOT["email"]
    assert (events[1].data["step"], events[2].data["action"], events[2].data["via"]) == ("remind", "contacted", "api")
    assert len(set(receiver.ids())) == 3

    lead = await settled(pipeline, lead_id, 3)
    assert [(w["event"], w["state"], w["attempts"]) for w in lead["webhooks"]] == [
        ("lead.assigned", "delivered", 1), ("lead.sla", "delivered", 1), ("lead.activity", "delivered", 1)]
    assert [w["event_id"] for w in lead["webhooks"]] == receiver.ids()
    assert [h["kind"] for h in lead["history"]].count("webhook_delivered") == 3
    counted = (f'leadrelay_webhook_deliveries_total{{outcome="delivered",subscription="{created["id"]}"}} 3.0',
               f'leadrelay_webhook_delivery_lag_seconds_count{{subscription="{created["id"]}"}} 3.0')
    deadline = asyncio.get_running_loop().time() + 10  # counted right after the commit the view read
    while missing := [line for line in counted if line not in (await pipeline.client.get("/metrics")).text]:
        assert asyncio.get_running_loop().time() < deadline, missing
        await asyncio.sleep(0.05)


async def settled(pipeline: Pipeline, lead_id: str, count: int, timeout: float = 20) -> dict:
    """The lead once ``count`` webhook deliveries are delivered (the receiver has a message a
    moment before the sender records its answer)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        lead = await lead_of(pipeline, lead_id)
        if [w["state"] for w in lead["webhooks"]].count("delivered") >= count:
            return lead
        assert asyncio.get_running_loop().time() < deadline, lead["webhooks"]
        await asyncio.sleep(0.05)


def signed(secret: str, body: dict, at: datetime) -> tuple[bytes, dict[str, str]]:
    """Signed as docs/integrations.md shows an integrator: with the library's ``Webhook.sign``."""
    text, msg_id = json.dumps(body), new_id()
    return text.encode(), {"Content-Type": "application/json", "webhook-id": msg_id,
                           "webhook-timestamp": str(int(at.timestamp())),
                           "webhook-signature": Webhook(secret).sign(msg_id, at, text)}


async def test_a_signed_crm_activity_stops_the_sla_ladder_and_forgeries_change_nothing(
        pipeline: Pipeline, receiver: WebhookReceiver, clock: FakeClock):
    admin = bearer(await pipeline.token("admin"))
    receiver.secret = (await pipeline.client.post("/v1/webhooks", headers=admin, json={
        "url": receiver.url, "events": ["lead.activity"]})).json()["secret"]
    key, secret = await create_integration_source(pipeline.runtime, "hubspot-sync")
    lead_id = (await pipeline.post_lead(HOT)).json()["lead_id"]
    await pipeline.wait_for(lead_id)
    contacted = {"lead_id": lead_id, "action": "contacted"}

    async def post(raw: bytes, headers: dict[str, str], credential: str = key):
        return await pipeline.client.post("/v1/integrations/activity", content=raw,
                                          headers={**headers, **bearer(credential)})

    refused = [
        await post(*signed(new_secret(), contacted, clock.now)),  # another secret
        await post(*signed(secret, contacted, clock.now - timedelta(minutes=6))),  # too old
        await post(*signed(secret, contacted, clock.now + timedelta(minutes=6))),  # from the future
        await post(json.dumps(contacted).encode(), {"Content-Type": "application/json"}),  # unsigned
    ]
    raw, headers = signed(secret, contacted, clock.now)
    refused.append(await post(raw.replace(b"contacted", b"converted"), headers))  # tampered after signing
    assert [r.status_code for r in refused] == [401] * 5
    assert {r.json()["errors"][0]["field"] for r in refused} == {"webhook-signature"}
    assert (await post(raw, headers, pipeline.source_key)).status_code == 403  # a lead source is no integration
    assert (await post(raw, headers, "lrs_unknown")).status_code == 401
    lead = await lead_of(pipeline, lead_id)
    assert lead["status"] == "assigned" and all(h["kind"] != "contacted" for h in lead["history"])

    accepted = await post(raw, headers)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json() == {"lead_id": lead_id, "replayed": False, "status": "contacted",
                               "owner": lead["owner"]}
    replay = await post(raw, headers)
    assert replay.status_code == 200 and replay.json()["replayed"] is True

    clock.advance(minutes=30)  # past the whole first-touch ladder
    await SlaScheduler(pipeline.runtime.store, pipeline.runtime.metrics, pipeline.runtime.clock).fire_due()
    lead = await lead_of(pipeline, lead_id)
    assert lead["status"] == "contacted" and lead["owner"] is not None
    kinds = [h["kind"] for h in lead["history"]]
    assert kinds.count("contacted") == 1 and "sla_reminder" not in kinds and "sla_breached" not in kinds
    contacted_entry = next(h for h in lead["history"] if h["kind"] == "contacted")
    assert (contacted_entry["by"], contacted_entry["via"]) == ("integration:hubspot-sync", "crm")
    states = {(c["clock"], c["step"]): c["state"] for c in lead["sla_clocks"]}
    assert states[("first_touch", "escalate")] == "cancelled"
    [activity] = await received(receiver, 1)
    assert (activity.data["via"], activity.data["actor"]) == ("crm", "integration:hubspot-sync")


async def test_an_integrations_oversized_body_is_refused_while_it_streams_in(pipeline: Pipeline):
    key, _ = await create_integration_source(pipeline.runtime, "crm")
    limit = pipeline.runtime.settings.max_body_bytes

    async def chunks():
        for _ in range(4 * limit // 4096):
            yield b" " * 4096

    response = await pipeline.client.post("/v1/integrations/activity", content=chunks(), headers={
        "Content-Type": "application/json", **bearer(key)})
    assert response.status_code == 413 and response.json()["errors"][0]["field"] == "body"


async def test_a_dead_letter_is_listed_and_redriven_over_the_api(tmp_path: Path, chat, clock: FakeClock,
                                                                 receiver: WebhookReceiver):
    settings = Settings(data_dir=tmp_path / "data", public_url="http://leadrelay.test", webhook_max_attempts=1)
    pipeline, stop, task = await start_pipeline(build_runtime(settings, clock), chat, embedded=True)
    try:
        admin = bearer(await pipeline.token("admin"))
        receiver.secret = (await pipeline.client.post("/v1/webhooks", headers=admin, json={
            "url": receiver.url, "events": ["lead.assigned"]})).json()["secret"]
        receiver.fail(503)
        lead_id = (await pipeline.post_lead(HOT)).json()["lead_id"]
        await pipeline.wait_for(lead_id)
        deadline = asyncio.get_running_loop().time() + 20
        while not (dead := (await pipeline.client.get("/v1/webhook-deliveries?state=dead", headers=admin)
                            ).json()["deliveries"]):
            assert asyncio.get_running_loop().time() < deadline, "no dead letter"
            await asyncio.sleep(0.05)
        assert [(d["lead_id"], d["event"], d["attempts"], d["last_error"]) for d in dead] == [
            (lead_id, "lead.assigned", 1, "throttled: HTTP 503")]
        assert (await lead_of(pipeline, lead_id))["webhooks"][0]["state"] == "dead"

        redriven = await pipeline.client.post(f"/v1/webhook-deliveries/{dead[0]['id']}/redrive", headers=admin)
        assert redriven.status_code == 200 and redriven.json()["state"] == "pending"
        [event] = await received(receiver, 1)
        assert event.id == dead[0]["event_id"]
        kinds = [h["kind"] for h in (await settled(pipeline, lead_id, 1))["history"]]
        assert kinds.index("webhook_dead_lettered") < kinds.index("webhook_redriven") < kinds.index("webhook_delivered")
        again = await pipeline.client.post(f"/v1/webhook-deliveries/{dead[0]['id']}/redrive", headers=admin)
        assert again.status_code == 409  # delivered now: nothing to redrive
    finally:
        await stop_pipeline(pipeline, stop, task)
