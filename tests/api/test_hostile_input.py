"""Input an attacker or a clumsy client sends: every malformed body is a 4xx problem+json naming the
field, with nothing stored; what is accepted can be routed; a failed keyed post can be retried; a
JSON route takes JSON only."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from typing import Any

import orjson
import pytest
from sqlalchemy import func, select

from leadrelay.services.intake.validation import MAX_ATTRIBUTE_BYTES, MAX_ATTRIBUTE_DEPTH, MAX_ATTRIBUTES
from leadrelay.shared.adapters.sql import schema
from leadrelay.shared.ports import BusUnavailable
from leadrelay.shared.shell.bootstrap import create_source
from tests.api.test_intake import LEAD, assert_problem, outbox_rows
from tests.conftest import Pipeline, policy_text

APP_SECRET = "meta-app-secret"
GOOGLE_KEY = "my-secret-key"


async def stored_keys(embedded: Pipeline) -> int:
    async with embedded.runtime.store.read() as uow:
        return (await uow.tx.conn.execute(select(func.count()).select_from(schema.idempotency_keys))).scalar_one()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def signed(raw: bytes, content_type: str = "application/json") -> dict[str, str]:
    digest = hmac.new(APP_SECRET.encode(), raw, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={digest}", "Content-Type": content_type}


def lead_json(attributes: Any) -> bytes:
    """LEAD with ``attributes`` as JSON; an int n stands for ``{"a": {"a": … 1}}`` n objects deep,
    written by hand (serialisers refuse to nest a few hundred levels)."""
    raw = b'{"a":' * attributes + b"1" + b"}" * attributes if isinstance(attributes, int) else orjson.dumps(attributes)
    return orjson.dumps(LEAD)[:-1] + b',"attributes":' + raw + b"}"


def nested(depth: int, leaf: Any = 1) -> Any:
    """``{"a": {"a": … leaf}}``, ``depth`` objects deep."""
    value = leaf
    for _ in range(depth):
        value = {"a": value}
    return value


@pytest.fixture
async def platforms(embedded: Pipeline) -> Pipeline:
    await create_source(embedded.runtime, "meta-ads", "meta", {
        "app_secret": APP_SECRET, "verify_token": "verify-me", "page_token": "page-token-1",
        "graph_url": "http://127.0.0.1:9/unused"})  # nothing here may reach the Graph API
    await create_source(embedded.runtime, "google", "google_ads", {"google_key": GOOGLE_KEY})
    await create_source(embedded.runtime, "linkedin", "linkedin", {
        "client_secret": APP_SECRET, "access_token": "unused", "api_url": "http://127.0.0.1:9/unused"})
    await create_source(embedded.runtime, "tiktok", "tiktok", {"client_secret": APP_SECRET})
    return embedded


def leadgen(value: Any) -> dict[str, Any]:
    return {"object": "page", "entry": [{"id": "PAGE", "time": 1700000000,
                                         "changes": [{"field": "leadgen", "value": value}]}]}


@pytest.mark.parametrize(("delivery", "status", "field"), [
    ({"object": "page", "entry": 5}, 422, "entry"),
    ({"object": "page", "entry": "all of them"}, 422, "entry"),
    ({"object": "page", "entry": [7]}, 422, "entry.0"),
    ({"object": "page", "entry": [{"id": "PAGE", "changes": 5}]}, 422, "entry.0.changes"),
    ({"object": "page", "entry": [{"id": "PAGE", "changes": [3]}]}, 422, "entry.0.changes.0"),
    ({"object": "page", "entry": [{"id": "PAGE", "changes": [{"field": ["leadgen"], "value": {}}]}]}, 422,
     "entry.0.changes.0.field"),
    (leadgen(12), 422, "entry.0.changes.0.value"),
    (leadgen({"form_id": "555"}), 422, "entry.0.changes.0.value.leadgen_id"),
    (leadgen({"leadgen_id": ["444"]}), 422, "entry.0.changes.0.value.leadgen_id"),
    (leadgen({"leadgen_id": {"id": "444"}}), 422, "entry.0.changes.0.value.leadgen_id"),
    (leadgen({"leadgen_id": "444", "created_time": "yesterday"}), 422, "entry.0.changes.0.value.created_time"),
    ({"object": "user", "entry": []}, 422, "object"),
    ([{"object": "page"}], 422, "body"),
    ("page", 422, "body"),
])
async def test_a_signed_meta_delivery_of_the_wrong_shape_is_a_422_naming_the_field(platforms, delivery, status,
                                                                                    field):
    before = await outbox_rows(platforms)
    raw = orjson.dumps(delivery)
    response = await platforms.client.post("/v1/sources/meta/webhook", content=raw, headers=signed(raw))
    assert_problem(response, status, field)
    assert await outbox_rows(platforms) == before


async def test_a_signed_meta_delivery_that_is_not_json_is_a_400_naming_the_body(platforms):
    for raw in (b'{"object": "page", "entry": [', b"\xff\xfe{}", b"[" * 5000):
        response = await platforms.client.post("/v1/sources/meta/webhook", content=raw, headers=signed(raw))
        assert_problem(response, 400, "body")


async def test_a_meta_delivery_is_authenticated_before_its_shape_is_judged(platforms):
    raw = orjson.dumps({"object": "page", "entry": 5})
    response = await platforms.client.post("/v1/sources/meta/webhook", content=raw,
                                           headers={**signed(b"other"), "Content-Type": "application/json"})
    assert_problem(response, 401, "X-Hub-Signature-256")


async def test_changes_of_other_fields_are_skipped(platforms):
    raw = orjson.dumps({"object": "page", "entry": [{"id": "PAGE", "changes": [
        {"field": "feed", "value": "anything at all"}, {"field": "ratings", "value": [1, 2]}]}]})
    response = await platforms.client.post("/v1/sources/meta/webhook", content=raw, headers=signed(raw))
    assert response.status_code == 200 and response.json() == {"accepted": []}


GOOGLE_LEAD = {
    "lead_id": "TeSter-123", "api_version": "1.0", "form_id": 40000000000, "campaign_id": 20000000000,
    "google_key": GOOGLE_KEY, "is_test": True, "gcl_id": "EAIaIQob",
    "user_column_data": [
        {"column_name": "Full Name", "string_value": "Li Lei", "column_id": "FULL_NAME"},
        {"column_name": "User Email", "string_value": "li.lei@factory-google.cn", "column_id": "EMAIL"},
    ],
}


def google(**changes: Any) -> dict[str, Any]:
    return {**GOOGLE_LEAD, **changes}


def column(**fields: Any) -> dict[str, Any]:
    return {"user_column_data": [*GOOGLE_LEAD["user_column_data"], fields]}


@pytest.mark.parametrize(("payload", "field"), [
    (google(user_column_data="Li Lei, li.lei@factory-google.cn"), "user_column_data"),
    (google(user_column_data=[1, 2]), "user_column_data.0"),
    (google(user_column_data={"column_id": "EMAIL"}), "user_column_data"),
    (google(**column(column_name=["Budget"], string_value="100k", column_id="BUDGET")),
     "user_column_data.2.column_name"),
    (google(**column(column_name="Budget", string_value={"amount": 100}, column_id="BUDGET")),
     "user_column_data.2.string_value"),
    (google(**column(column_id=7, string_value="x")), "user_column_data.2.column_id"),
    (google(lead_id=["TeSter-123"]), "lead_id"),
    (google(lead_id=""), "lead_id"),
    (google(lead_id="x" * 1000), "lead_id"),
    (google(form_id="the spring form"), "form_id"),
    (google(is_test="maybe"), "is_test"),
    ({k: v for k, v in GOOGLE_LEAD.items() if k != "lead_id"}, "lead_id"),
])
async def test_a_google_lead_form_of_the_wrong_shape_with_a_valid_key_is_a_422_naming_the_field(platforms, payload,
                                                                                                 field):
    before = await outbox_rows(platforms)
    response = await platforms.client.post("/v1/sources/google-ads/webhook", json=payload)
    assert_problem(response, 422, field)
    assert await outbox_rows(platforms) == before


async def test_a_google_lead_form_that_is_not_an_object_is_a_422_naming_the_body(platforms):
    for payload in ([GOOGLE_LEAD], "lead", 5, None):
        response = await platforms.client.post("/v1/sources/google-ads/webhook", content=orjson.dumps(payload),
                                               headers={"Content-Type": "application/json"})
        assert_problem(response, 422, "body")


async def test_a_google_lead_form_is_authenticated_before_its_shape_is_judged(platforms):
    for key in ("wrong", 12345, ["my-secret-key"], None):
        response = await platforms.client.post("/v1/sources/google-ads/webhook",
                                               json=google(google_key=key, user_column_data="x"))
        assert_problem(response, 403, "google_key")


async def test_a_google_lead_form_with_unknown_and_unnamed_columns_is_accepted(platforms):
    payload = google(lead_id="Unnamed-1", some_future_field={"nested": [1]},
                     **column(string_value="no name, no id"))
    response = await platforms.client.post("/v1/sources/google-ads/webhook", json=payload)
    assert response.status_code == 200, response.text
    lead = await platforms.wait_for(response.json()["lead_id"])
    assert lead["contact"]["name"] == "Li Lei"


@pytest.mark.parametrize(("attributes", "reason"), [
    (nested(MAX_ATTRIBUTE_DEPTH + 1), "levels deep"),
    (220, "levels deep"),
    (300, "levels deep"),
    (1000, "levels deep"),
    ({"list": [[[[[[[[[1]]]]]]]]]}, "levels deep"),
    ({"form": {f"q{i}": i for i in range(MAX_ATTRIBUTES + 1)}}, "keys"),
    ({f"q{i}": i for i in range(MAX_ATTRIBUTES + 1)}, "keys"),
    ({"essay": "x" * MAX_ATTRIBUTE_BYTES}, "KiB"),
])
async def test_attributes_too_deep_or_too_big_are_a_422_naming_them_and_nothing_is_stored(embedded, attributes,
                                                                                          reason):
    before = await outbox_rows(embedded)
    response = await embedded.client.post("/v1/leads", content=lead_json(attributes), headers={
        **bearer(embedded.source_key), "Content-Type": "application/json"})
    body = assert_problem(response, 422, "attributes")
    assert reason in body["errors"][0]["reason"]
    assert await outbox_rows(embedded) == before


async def test_a_body_nested_past_what_the_json_parser_takes_is_a_400_naming_the_body(embedded):
    deeper = b'{"email": "a@example.com", "attributes": ' + b'{"a": ' * 1100 + b"1" + b"}" * 1101
    response = await embedded.client.post("/v1/leads", content=deeper, headers={
        **bearer(embedded.source_key), "Content-Type": "application/json"})
    assert_problem(response, 400, "body")


def deepest_attributes() -> dict[str, Any]:
    """Attributes at every bound at once: as deep, as wide and nearly as large as intake accepts."""
    attributes: dict[str, Any] = {f"q{i:02}": f"answer {i}" for i in range(MAX_ATTRIBUTES - 2)}
    attributes["deep"] = nested(MAX_ATTRIBUTE_DEPTH - 2, ["innermost", 2, None, True])  # 1 + 6 + 1 levels
    attributes["essay"] = ""
    room = MAX_ATTRIBUTE_BYTES - len(orjson.dumps(attributes))
    attributes["essay"] = "长" * (room // 3)  # three bytes each in UTF-8
    return attributes


async def test_the_deepest_and_largest_accepted_attributes_flow_through_scoring_and_routing(embedded):
    attributes = deepest_attributes()
    assert len(orjson.dumps(attributes)) > MAX_ATTRIBUTE_BYTES - 3
    response = await embedded.post_lead({**LEAD, "email": "deep@bigfactory.cn", "attributes": attributes})
    assert response.status_code == 202, response.text
    lead = await embedded.wait_for(response.json()["lead_id"])
    assert lead["score"] is not None and lead["decision"] is not None
    assert lead["contact"]["attributes"] == attributes


async def test_a_key_retried_with_the_same_object_in_another_order_and_spacing_is_a_replay(embedded):
    first = orjson.dumps({"email": "order@example.com", "name": "Order", "attributes": {"a": 1, "b": [1, 2]}})
    second = b'{ "attributes" : { "b" : [ 1 , 2 ] , "a" : 1 } ,\n  "name" : "Order" , "email" : "order@example.com" }'
    answers = [await embedded.client.post("/v1/leads", content=raw, headers={
        **bearer(embedded.source_key), "Content-Type": "application/json", "Idempotency-Key": "order-1"})
        for raw in (first, second)]
    assert [a.status_code for a in answers] == [202, 202]
    assert answers[0].json()["lead_id"] == answers[1].json()["lead_id"]
    assert answers[1].headers.get("idempotent-replayed") == "true"


async def test_a_keyed_post_the_event_log_refused_leaves_no_record_so_a_corrected_retry_is_accepted(
        pipeline, monkeypatch):
    """On both backends: the local log and SQLite, Kafka and PostgreSQL."""
    publish = pipeline.runtime.bus.publish
    calls = 0

    async def unavailable_once(envelope):
        nonlocal calls
        calls += 1
        if calls == 1:
            raise BusUnavailable("the log is away")
        await publish(envelope)

    monkeypatch.setattr(pipeline.runtime.bus, "publish", unavailable_once)
    keys_before = await stored_keys(pipeline)
    failed = await pipeline.post_lead({**LEAD, "name": "Typo Nmae"}, **{"Idempotency-Key": "retry-1"})
    assert failed.status_code == 503 and failed.headers["content-type"].startswith("application/problem+json")
    assert await stored_keys(pipeline) == keys_before

    retried = await pipeline.post_lead({**LEAD, "name": "Fixed Name"}, **{"Idempotency-Key": "retry-1"})
    assert retried.status_code == 202, retried.text
    assert "idempotent-replayed" not in retried.headers
    lead = await pipeline.wait_for(retried.json()["lead_id"])
    assert lead["contact"]["name"] == "Fixed Name"
    again = await pipeline.post_lead({**LEAD, "name": "Fixed Name"}, **{"Idempotency-Key": "retry-1"})
    assert again.status_code == 202 and again.headers.get("idempotent-replayed") == "true"


async def test_a_keyed_post_refused_for_a_bad_field_leaves_no_record(embedded):
    refused = await embedded.post_lead({**LEAD, "email": "not-an-email"}, **{"Idempotency-Key": "retry-2"})
    assert_problem(refused, 422, "email")
    accepted = await embedded.post_lead(LEAD, **{"Idempotency-Key": "retry-2"})
    assert accepted.status_code == 202 and "idempotent-replayed" not in accepted.headers


async def test_two_bodies_posted_at_once_under_one_key_store_the_one_answered_202(embedded):
    bodies = [{**LEAD, "name": f"Racer {n}"} for n in range(2)]
    answers = await asyncio.gather(*(embedded.post_lead(body, **{"Idempotency-Key": "race-1"}) for body in bodies))
    assert sorted(a.status_code for a in answers) == [202, 409]
    [winner] = [body for body, answer in zip(bodies, answers, strict=True) if answer.status_code == 202]
    lead = await embedded.wait_for(next(a for a in answers if a.status_code == 202).json()["lead_id"])
    assert lead["contact"]["name"] == winner["name"]


# Every route that takes JSON: (method, path, body, who), the body valid for the route.
JSON_ROUTES = [
    ("POST", "/v1/leads", LEAD, "source"),
    ("POST", "/v1/sources/google-ads/webhook", GOOGLE_LEAD, None),
    ("POST", "/v1/sources/meta/webhook", {"object": "page", "entry": []}, "meta"),
    ("POST", "/v1/leads/{lead_id}/activity", {"action": "accepted"}, "admin"),
    ("POST", "/v1/reps/{rep_id}/credits", {"delta": 1, "reason": "a no-show"}, "admin"),
    ("PUT", "/v1/policy", {"document": "version: 1"}, "admin"),
    ("POST", "/v1/webhooks", {"url": "https://crm.example.com/hooks", "events": ["lead.assigned"]}, "admin"),
    ("POST", "/v1/integrations/activity", {"lead_id": "no-such-lead", "action": "contacted"}, None),
    # A withdrawn response and a non-lead event: signed, read, and nothing fetched or stored.
    ("POST", "/v1/sources/linkedin/webhook", {"type": "LEAD_ACTION", "leadAction": "DELETED",
                                              "leadGenFormResponse": "urn:li:leadGenFormResponse:x"}, "linkedin"),
    ("POST", "/v1/sources/tiktok/webhook", {"event": "video.publish", "content": "{}"}, "tiktok"),
    ("POST", "/v1/people/search", {"email": "nobody@example.com"}, "admin"),
]


async def json_route_request(pipeline: Pipeline, method: str, path: str, body: Any, who: str | None,
                             content_type: str) -> Any:
    raw = orjson.dumps(body)
    headers = {"Content-Type": content_type}
    if who == "source":
        headers.update(bearer(pipeline.source_key))
    elif who == "meta":
        headers.update(signed(raw, content_type))
    elif who == "linkedin":
        headers["X-LI-Signature"] = hmac.new(APP_SECRET.encode(), b"hmacsha256=" + raw, hashlib.sha256).hexdigest()
    elif who == "tiktok":
        stamp = str(int(pipeline.runtime.clock().timestamp()))
        digest = hmac.new(APP_SECRET.encode(), stamp.encode() + b"." + raw, hashlib.sha256).hexdigest()
        headers["TikTok-Signature"] = f"t={stamp},s={digest}"
    elif who == "admin":
        headers.update(bearer(await pipeline.token("admin")))
    return await pipeline.client.request(method, path.format(lead_id="no-such-lead", rep_id="rep-a"), content=raw, headers=headers)


@pytest.mark.parametrize("content_type", [
    "application/evil+json", "application/json; charset=latin-1", "application/json;charset=ISO-8859-1",
    "text/plain", "application/x-www-form-urlencoded", "application/json; boundary=x", "json",
])
async def test_every_json_route_refuses_what_is_not_json_in_utf8_with_a_415_naming_content_type(platforms,
                                                                                                content_type):
    before = await outbox_rows(platforms)
    for method, path, body, who in JSON_ROUTES:
        if path == "/v1/policy" and content_type == "text/plain":
            continue  # the policy route takes YAML as text/plain
        response = await json_route_request(platforms, method, path, body, who, content_type)
        assert_problem(response, 415, "Content-Type")
    assert await outbox_rows(platforms) == before


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8",
                                          "Application/JSON;Charset=\"UTF-8\""])
async def test_every_json_route_takes_json_in_utf8(platforms, content_type):
    for method, path, body, who in JSON_ROUTES:
        response = await json_route_request(platforms, method, path, body, who, content_type)
        assert response.status_code != 415, (path, response.text)


async def test_the_table_of_json_routes_covers_every_route_that_documents_a_body(embedded):
    document = (await embedded.client.get("/openapi.json")).json()
    documented = {(method.upper(), path) for path, operations in document["paths"].items()
                  for method, operation in operations.items() if "requestBody" in operation}
    covered = {(method, path) for method, path, _, _ in JSON_ROUTES}
    assert documented <= covered, documented - covered


async def test_a_declared_body_without_a_content_type_is_a_415(embedded):
    admin = await embedded.token("admin")
    response = await embedded.client.post("/v1/reps/rep-a/credits", content=b'{"delta": 1, "reason": "no-show"}',
                                          headers=bearer(admin))
    assert_problem(response, 415, "Content-Type")


@pytest.mark.parametrize("raw", [b"[" * 20000, b'{"action": ' * 5000, b'{"action": "accepted\xff"}', b"\xff\xfe"])
async def test_a_work_body_that_is_not_json_is_a_400_naming_the_body(embedded, raw):
    admin = await embedded.token("admin")
    for path in ("/v1/leads/no-such-lead/activity", "/v1/reps/rep-a/credits"):
        response = await embedded.client.post(path, content=raw,
                                              headers={**bearer(admin), "Content-Type": "application/json"})
        assert_problem(response, 400, "body")


async def test_a_policy_that_is_not_utf8_or_nested_too_deep_is_a_422_naming_the_body(embedded):
    admin = await embedded.token("admin")
    for raw in ("a: é".encode("latin-1"), b"[" * 100_000, b"a: " + b"[" * 5000):
        response = await embedded.client.put("/v1/policy", content=raw,
                                             headers={**bearer(admin), "Content-Type": "application/yaml"})
        assert_problem(response, 422, "body")
    ok = await embedded.client.put("/v1/policy", content=policy_text(None).encode(),
                                   headers={**bearer(admin), "Content-Type": "application/yaml; charset=utf-8"})
    assert ok.status_code == 200, ok.text


async def test_a_method_a_route_does_not_take_is_a_405_problem(embedded):
    response = await embedded.client.delete("/v1/leads", headers=bearer(embedded.source_key))
    assert response.status_code == 405
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["title"] == "Method Not Allowed" and "POST" in response.headers["allow"]
