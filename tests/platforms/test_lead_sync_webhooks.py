"""LinkedIn Lead Gen Forms and TikTok lead webhooks: signatures (forged, stale, missing), LinkedIn's
validation challenge, the lead read from a local LinkedIn API, dedup of redeliveries."""

from __future__ import annotations

import hashlib
import hmac

import orjson
import pytest

from leadrelay.shared.shell.bootstrap import create_source
from tests.platforms.fake_linkedin import FakeLinkedIn

LINKEDIN_SECRET = "linkedin-client-secret"
TIKTOK_SECRET = "tiktok-client-secret"


def linkedin_notification(response_id: str, action: str = "CREATED") -> bytes:
    return orjson.dumps({
        "type": "LEAD_ACTION", "leadAction": action, "leadType": "SPONSORED",
        "leadGenFormResponse": f"urn:li:leadGenFormResponse:{response_id}",
        "leadGenForm": "urn:li:versionedLeadGenForm:(urn:li:leadGenForm:123,1)",
        "owner": {"sponsoredAccount": "urn:li:sponsoredAccount:456"}, "occurredAt": 1700000000000})


def li_signed(raw: bytes, secret: str = LINKEDIN_SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), b"hmacsha256=" + raw, hashlib.sha256).hexdigest()
    return {"X-LI-Signature": digest, "Content-Type": "application/json"}


@pytest.fixture
def linkedin_api():
    with FakeLinkedIn(access_token="li-access-token").serve() as server:
        yield server


@pytest.fixture
async def linkedin(embedded, linkedin_api):
    await create_source(embedded.runtime, "linkedin-ads", "linkedin", {
        "client_secret": LINKEDIN_SECRET, "access_token": "li-access-token", "api_url": linkedin_api.base_url})
    return embedded


async def test_linkedin_validation_answers_the_challenge_with_the_client_secrets_hmac(linkedin):
    response = await linkedin.client.get("/v1/sources/linkedin/webhook", params={"challengeCode": "f2b1-challenge"})
    assert response.status_code == 200
    expected = hmac.new(LINKEDIN_SECRET.encode(), b"f2b1-challenge", hashlib.sha256).hexdigest()
    assert response.json() == {"challengeCode": "f2b1-challenge", "challengeResponse": expected}
    missing = await linkedin.client.get("/v1/sources/linkedin/webhook")
    assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "challengeCode"
    other_app = await linkedin.client.get("/v1/sources/linkedin/webhook",
                                          params={"challengeCode": "x", "applicationId": "not-ours"})
    assert other_app.status_code == 404


async def test_a_signed_linkedin_notification_becomes_one_lead_read_from_the_api(linkedin, linkedin_api):
    linkedin_api.add_response("resp-1", {1: "Mei", 2: "Chen", 3: "mei.chen@example-li.com", 4: "Example Li Co",
                                         5: "VP Sales", 6: "100k"})
    raw = linkedin_notification("resp-1")
    first = await linkedin.client.post("/v1/sources/linkedin/webhook", content=raw, headers=li_signed(raw))
    again = await linkedin.client.post("/v1/sources/linkedin/webhook", content=raw, headers=li_signed(raw))
    assert first.status_code == again.status_code == 200, first.text
    assert first.json()["accepted"] == again.json()["accepted"]  # a redelivery is the same lead
    lead = await linkedin.wait_for(first.json()["accepted"][0])
    contact = lead["contact"]
    assert (contact["name"], contact["email"], contact["company"], contact["title"]) == (
        "Mei Chen", "mei.chen@example-li.com", "Example Li Co", "VP Sales")
    assert contact["attributes"]["budget"] == "100k"
    assert lead["source"] == "linkedin-ads"
    # The form's questions were read once: versioned forms never change.
    assert linkedin_api.requests.count("/rest/leadForms/123") == 1
    async with linkedin.runtime.store.read() as uow:
        assert len(await uow.leads.where(source="linkedin-ads")) == 1


async def test_a_forged_or_unsigned_linkedin_notification_is_refused_and_nothing_is_read(linkedin, linkedin_api):
    linkedin_api.add_response("resp-2", {3: "forged@example-li.com"})
    raw = linkedin_notification("resp-2")
    for headers in (li_signed(raw, "guessed-secret"), {"Content-Type": "application/json"}):
        response = await linkedin.client.post("/v1/sources/linkedin/webhook", content=raw, headers=headers)
        assert response.status_code == 401
        assert response.json()["errors"][0]["field"] == "X-LI-Signature"
    tampered = raw.replace(b"resp-2", b"resp-3")
    response = await linkedin.client.post("/v1/sources/linkedin/webhook", content=tampered, headers=li_signed(raw))
    assert response.status_code == 401
    assert linkedin_api.requests == []


async def test_a_deleted_response_is_acknowledged_and_an_unreadable_one_answers_502(linkedin):
    raw = linkedin_notification("resp-9", action="DELETED")
    deleted = await linkedin.client.post("/v1/sources/linkedin/webhook", content=raw, headers=li_signed(raw))
    assert deleted.status_code == 200 and deleted.json() == {"accepted": [], "ignored": "DELETED"}
    raw = linkedin_notification("no-such-response")
    missing = await linkedin.client.post("/v1/sources/linkedin/webhook", content=raw, headers=li_signed(raw))
    assert missing.status_code == 502  # LinkedIn retries


async def test_a_wrong_access_token_is_a_502_not_a_lead(embedded, linkedin_api):
    await create_source(embedded.runtime, "linkedin-ads", "linkedin", {
        "client_secret": LINKEDIN_SECRET, "access_token": "expired", "api_url": linkedin_api.base_url})
    linkedin_api.add_response("resp-4", {3: "x@example-li.com"})
    raw = linkedin_notification("resp-4")
    response = await embedded.client.post("/v1/sources/linkedin/webhook", content=raw, headers=li_signed(raw))
    assert response.status_code == 502


def tiktok_delivery(lead: dict, event: str = "lead.create") -> bytes:
    return orjson.dumps({"client_key": "aw-client", "event": event, "create_time": 1700000000,
                         "user_openid": "openid-1", "content": orjson.dumps(lead).decode()})


def tt_signed(raw: bytes, stamp: int, secret: str = TIKTOK_SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), str(stamp).encode() + b"." + raw, hashlib.sha256).hexdigest()
    return {"TikTok-Signature": f"t={stamp},s={digest}", "Content-Type": "application/json"}


@pytest.fixture
async def tiktok(embedded):
    await create_source(embedded.runtime, "tiktok-ads", "tiktok", {"client_secret": TIKTOK_SECRET,
                                                                   "client_key": "aw-client"})
    return embedded


TIKTOK_LEAD = {"lead_id": "7300000000001", "advertiser_id": "6900000000", "form_id": "7100000000",
               "fields": [{"name": "name", "value": "赵敏"}, {"name": "phone_number", "value": "+8613900139000"},
                          {"name": "email", "value": "zhao.min@example-tt.cn"},
                          {"name": "company_name", "value": "北方电气"}, {"name": "city", "value": "Beijing"},
                          {"name": "预算", "value": "50万"}]}


async def test_a_signed_tiktok_lead_is_accepted_once(tiktok):
    raw = tiktok_delivery(TIKTOK_LEAD)
    now = int(tiktok.runtime.clock().timestamp())
    first = await tiktok.client.post("/v1/sources/tiktok/webhook", content=raw, headers=tt_signed(raw, now))
    retry = await tiktok.client.post("/v1/sources/tiktok/webhook", content=raw, headers=tt_signed(raw, now + 30))
    assert first.status_code == retry.status_code == 200, first.text
    assert first.json()["accepted"] == retry.json()["accepted"]
    lead = await tiktok.wait_for(first.json()["accepted"][0])
    contact = lead["contact"]
    assert (contact["name"], contact["phone"], contact["company"], contact["city"]) == (
        "赵敏", "+8613900139000", "北方电气", "Beijing")
    assert contact["attributes"]["预算"] == "50万" and contact["attributes"]["advertiser_id"] == "6900000000"


async def test_forged_stale_and_unsigned_tiktok_deliveries_are_refused(tiktok):
    raw = tiktok_delivery(dict(TIKTOK_LEAD, lead_id="7300000000002"))
    now = int(tiktok.runtime.clock().timestamp())
    cases = {
        "forged": tt_signed(raw, now, "guessed"),
        # Outside the five-minute window (a replay), by a minute: the server reads its clock a
        # moment after this test did, and on a loaded machine that moment can be seconds.
        "stale": tt_signed(raw, now - 360),
        "from the future": tt_signed(raw, now + 360),
        "unsigned": {"Content-Type": "application/json"},
        "malformed": {"TikTok-Signature": "s=abc", "Content-Type": "application/json"},
    }
    for case, headers in cases.items():
        response = await tiktok.client.post("/v1/sources/tiktok/webhook", content=raw, headers=headers)
        assert response.status_code == 401, case
        assert response.json()["errors"][0]["field"] == "TikTok-Signature"
    async with tiktok.runtime.store.read() as uow:
        assert await uow.leads.where(source="tiktok-ads") == []


async def test_a_tiktok_delivery_of_the_wrong_shape_names_the_field_and_other_events_are_acknowledged(tiktok):
    now = int(tiktok.runtime.clock().timestamp())
    bad = orjson.dumps({"client_key": "aw-client", "event": "lead.create", "content": "{not json"})
    response = await tiktok.client.post("/v1/sources/tiktok/webhook", content=bad, headers=tt_signed(bad, now))
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "content"
    other = tiktok_delivery({"video_id": "1"}, event="video.publish")
    response = await tiktok.client.post("/v1/sources/tiktok/webhook", content=other, headers=tt_signed(other, now))
    assert response.status_code == 200 and response.json() == {"accepted": [], "ignored": "video.publish"}
    foreign = orjson.dumps({"client_key": "someone-else", "event": "lead.create",
                            "content": orjson.dumps(TIKTOK_LEAD).decode()})
    response = await tiktok.client.post("/v1/sources/tiktok/webhook", content=foreign,
                                        headers=tt_signed(foreign, now))
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "client_key"
