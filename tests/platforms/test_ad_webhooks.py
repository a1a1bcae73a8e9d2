"""Meta Lead Ads and Google Ads lead-form webhooks, against faithful local counterparts."""

from __future__ import annotations

import hashlib
import hmac

import orjson
import pytest

from leadrelay.shared.shell.bootstrap import create_source
from tests.platforms.fake_graph import FakeGraph

APP_SECRET = "meta-app-secret"


def meta_delivery(*leadgen_ids: str) -> bytes:
    return orjson.dumps({"object": "page", "entry": [{"id": "PAGE", "time": 1700000000, "changes": [
        {"field": "leadgen", "value": {"leadgen_id": i, "page_id": "PAGE", "form_id": "555", "ad_id": "666",
                                       "created_time": 1700000000}} for i in leadgen_ids]}]})


def signed(raw: bytes, secret: str = APP_SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={digest}", "Content-Type": "application/json"}


@pytest.fixture
def graph():
    with FakeGraph(page_token="page-token-1").serve() as server:
        yield server


@pytest.fixture
async def meta(embedded, graph):
    await create_source(embedded.runtime, "meta-ads", "meta", {
        "app_secret": APP_SECRET, "verify_token": "verify-me", "page_token": "page-token-1",
        "graph_url": graph.base_url})
    return embedded


async def test_meta_verification_echoes_the_challenge_only_for_our_token(meta):
    ok = await meta.client.get("/v1/sources/meta/webhook", params={
        "hub.mode": "subscribe", "hub.verify_token": "verify-me", "hub.challenge": "1158201444"})
    assert ok.status_code == 200 and ok.text == "1158201444"
    bad = await meta.client.get("/v1/sources/meta/webhook", params={
        "hub.mode": "subscribe", "hub.verify_token": "guess", "hub.challenge": "1"})
    assert bad.status_code == 403


async def test_a_signed_meta_lead_is_fetched_accepted_and_routed_once_despite_retries(meta, graph):
    graph.add_lead("444", {"full_name": "Jane Doe", "email": "jane@acme-meta.com", "phone_number": "+14155550100",
                           "company_name": "ACME", "favourite_colour": "green"})
    raw = meta_delivery("444")
    first = await meta.client.post("/v1/sources/meta/webhook", content=raw, headers=signed(raw))
    retry = await meta.client.post("/v1/sources/meta/webhook", content=raw, headers=signed(raw))
    assert first.status_code == retry.status_code == 200
    lead_id = first.json()["accepted"][0]
    assert retry.json()["accepted"] == [lead_id]
    lead = await meta.wait_for(lead_id)
    assert lead["source"] == "meta-ads" and lead["contact"]["email"] == "jane@acme-meta.com"
    assert lead["contact"]["attributes"]["favourite_colour"] == "green"
    async with meta.runtime.store.read() as uow:
        assert len(await uow.leads.where(source="meta-ads")) == 1


async def test_a_platform_lead_with_a_bad_phone_keeps_it_as_unverified_instead_of_refusing(meta, graph):
    graph.add_lead("445", {"full_name": "Bad Phone", "email": "bad.phone@acme-meta.com", "phone_number": "12"})
    raw = meta_delivery("445")
    response = await meta.client.post("/v1/sources/meta/webhook", content=raw, headers=signed(raw))
    assert response.status_code == 200, response.text
    lead = await meta.wait_for(response.json()["accepted"][0])
    assert lead["contact"]["phone"] is None and lead["contact"]["attributes"]["unverified_phone"] == "12"


async def test_a_meta_delivery_with_a_wrong_signature_is_refused_before_parsing(meta):
    raw = meta_delivery("444")
    response = await meta.client.post("/v1/sources/meta/webhook", content=raw, headers=signed(raw, "wrong"))
    assert response.status_code == 401
    assert response.json()["errors"][0]["field"] == "X-Hub-Signature-256"


async def test_a_graph_failure_answers_5xx_so_meta_retries(meta, graph):
    raw = meta_delivery("does-not-exist")
    response = await meta.client.post("/v1/sources/meta/webhook", content=raw, headers=signed(raw))
    assert response.status_code == 502


GOOGLE_LEAD = {
    "lead_id": "TeSter-123", "api_version": "1.0", "form_id": 40000000000, "campaign_id": 20000000000,
    "google_key": "my-secret-key", "is_test": True, "gcl_id": "EAIaIQob",
    "user_column_data": [
        {"column_name": "Full Name", "string_value": "Li Lei", "column_id": "FULL_NAME"},
        {"column_name": "User Email", "string_value": "li.lei@factory-google.cn", "column_id": "EMAIL"},
        {"column_name": "User Phone", "string_value": "+8613800138000", "column_id": "PHONE_NUMBER"},
        {"string_value": "94043", "column_id": "POSTAL_CODE"},
        {"string_value": "Factory", "column_id": "COMPANY_NAME"},
        {"string_value": "CTO", "column_id": "JOB_TITLE"},
    ],
    "some_future_field": "ignored",
}


async def test_a_google_ads_lead_with_the_right_key_is_accepted_once(embedded):
    await create_source(embedded.runtime, "google", "google_ads", {"google_key": "my-secret-key"})
    first = await embedded.client.post("/v1/sources/google-ads/webhook", json=GOOGLE_LEAD)
    again = await embedded.client.post("/v1/sources/google-ads/webhook", json=GOOGLE_LEAD)
    assert first.status_code == again.status_code == 200
    assert first.json()["lead_id"] == again.json()["lead_id"]
    lead = await embedded.wait_for(first.json()["lead_id"])
    assert lead["contact"]["name"] == "Li Lei" and lead["contact"]["title"] == "CTO"
    assert lead["contact"]["attributes"]["POSTAL_CODE"] == "94043"


async def test_a_google_ads_lead_with_a_wrong_key_is_refused(embedded):
    await create_source(embedded.runtime, "google", "google_ads", {"google_key": "my-secret-key"})
    response = await embedded.client.post("/v1/sources/google-ads/webhook", json=dict(GOOGLE_LEAD, google_key="no"))
    assert response.status_code == 403 and response.json()["errors"][0]["field"] == "google_key"
