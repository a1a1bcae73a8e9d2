"""Consent, access and erasure requests through the whole embedded pipeline (HTTP, SQLite, the
embedded log, chat and webhook deliveries): a lead without consent is still routed; an admin finds
a person by email without it in a URL, exports what we hold, erases them; afterwards none of their
values is in any table (the embedded log included), reports still count their leads, a subscriber
hears ``person.erased``, and the same email later makes a new person."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from leadrelay.shared.clock import system_clock
from leadrelay.shared.erasure import is_event_tombstone
from leadrelay.shared.events import PersonErased
from tests.conftest import Pipeline
from tests.pii_scan import as_text, found_in, scan_database
from tests.platforms.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.timeout(120)

A1 = {"email": "Wang.Lei@Example-Factory.cn", "phone": "+86 138 0013 8000", "name": "王磊",
      "company": "示例制造有限公司", "country": "CN", "industry": "manufacturing", "consent": False}
A2 = {"email": "wang.lei@example-factory.cn", "name": "Wang Lei", "company": "示例制造", "country": "CN",
      "consent": True}
B = {"email": "li.na@other-works.example", "phone": "+86 139 0013 9000", "name": "李娜", "country": "CN"}
A_VALUES = ["wang.lei@example-factory.cn", "+86 138 0013 8000", "+8613800138000", "13800138000", "王磊",
            "Wang Lei", "示例制造"]
B_VALUES = ["li.na@other-works.example", "+8613900139000", "李娜"]


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver("whsec_unset", system_clock).serve() as running:
        yield running


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def routed(pipeline: Pipeline, body: dict) -> dict:
    response = await pipeline.post_lead(body)
    assert response.status_code == 202, response.text
    return await pipeline.wait_for(response.json()["lead_id"])


async def until(condition, what: str, timeout: float = 20) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, what
        await asyncio.sleep(0.05)


async def test_consent_is_kept_on_the_lead_and_the_person_and_a_lead_without_it_is_still_routed(embedded):
    admin = bearer(await embedded.token("admin"))
    first = await routed(embedded, A1)
    assert first["status"] in ("assigned", "queued") and first["contact"]["consent"] is False
    assert first["consent"]["lead"] is False and first["consent"]["person"] is False
    second = await routed(embedded, A2)
    assert second["person_id"] == first["person_id"] and second["contact"]["consent"] is True
    first_again = (await embedded.client.get(f"/v1/leads/{first['lead_id']}", headers=admin)).json()
    assert first_again["consent"] == {"lead": False, "person": True, "person_at": second["received_at"]}
    exported = (await embedded.client.get(f"/v1/people/{first['person_id']}/export", headers=admin)).json()
    assert exported["consent"]["consent"] is True  # the newest answer
    assert [c["consent"] for c in exported["consent"]["by_lead"]] == [True, False]


async def test_only_an_admin_finds_exports_and_erases_people(embedded):
    lead = await routed(embedded, B)
    person = lead["person_id"]
    tokens = {"rep": await embedded.token("rep", "rep-a"), "manager": await embedded.token("manager", "mgr-a"),
              "source": embedded.source_key}
    for role, token in tokens.items():
        for method, path, body in (("POST", "/v1/people/search", {"email": B["email"]}),
                                   ("GET", f"/v1/people/{person}/export", None),
                                   ("DELETE", f"/v1/people/{person}", None)):
            response = await embedded.client.request(method, path, json=body, headers=bearer(token))
            assert response.status_code == 403, (role, method, path, response.text)
            assert response.headers["content-type"] == "application/problem+json"
    assert (await embedded.client.delete(f"/v1/people/{person}")).status_code == 401
    admin = bearer(await embedded.token("admin"))
    unknown = str(uuid.uuid4())
    for method, path in (("GET", f"/v1/people/{unknown}/export"), ("DELETE", f"/v1/people/{unknown}"),
                         ("DELETE", "/v1/people/not-a-person-id")):
        missing = await embedded.client.request(method, path, headers=admin)
        assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
    bad = await embedded.client.post("/v1/people/search", json={"email": "not an address"}, headers=admin)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "email"
    neither = await embedded.client.post("/v1/people/search", json={}, headers=admin)
    assert neither.status_code == 422
    async with embedded.runtime.store.read() as uow:  # nothing was erased by the refused calls
        assert (await uow.leads.get(lead["lead_id"])).contact["email"] == B["email"]


async def test_an_erased_person_leaves_no_value_anywhere_and_downstream_hears_of_it(pipeline, receiver):
    """On SQLite with the embedded log, and on PostgreSQL with Kafka."""
    admin = bearer(await pipeline.token("admin"))
    created = (await pipeline.client.post("/v1/webhooks", headers=admin, json={
        "url": receiver.url, "events": ["lead.assigned", "person.erased"]})).json()
    receiver.secret = created["secret"]
    a1, a2, b = await routed(pipeline, A1), await routed(pipeline, A2), await routed(pipeline, B)
    person = a1["person_id"]
    await until(lambda: len(receiver.received) >= 3, "the three lead.assigned webhooks")
    store = pipeline.runtime.store
    hits, _ = await scan_database(store.engine, A_VALUES)
    assert {table for table, *_ in hits} >= {"leads", "persons", "outbox", "webhook_deliveries", "deliveries"}

    found = await pipeline.client.post("/v1/people/search", json={"phone": "13800138000", "country": "CN"},
                                       headers=admin)
    assert found.status_code == 200 and found.headers["cache-control"] == "no-store"
    assert [p["person_id"] for p in found.json()["people"]] == [person]
    assert "13800138000" not in str(found.request.url)
    exported = await pipeline.client.get(f"/v1/people/{person}/export", headers=admin)
    assert exported.status_code == 200 and exported.headers["cache-control"] == "no-store"
    document = exported.json()
    assert sorted(lead["lead_id"] for lead in document["leads"]) == sorted([a1["lead_id"], a2["lead_id"]])
    assert {lead["contact"]["email"] for lead in document["leads"]} == {"wang.lei@example-factory.cn"}  # normalised
    assert all(lead["history"] and lead["decisions"] for lead in document["leads"])
    assert any(w["event"] == "lead.assigned" for lead in document["leads"] for w in lead["webhooks"])

    erased = await pipeline.client.delete(f"/v1/people/{person}", headers=admin)
    assert erased.status_code == 200, erased.text
    answer = erased.json()
    assert answer["already_erased"] is False and answer["lead_ids"] == sorted([a1["lead_id"], a2["lead_id"]])
    assert answer["events_tombstoned"] > 0

    # Downstream hears of it, signed like every webhook.
    await until(lambda: any(r.type == "person.erased" for r in receiver.received), "the person.erased webhook")
    [heard] = [r for r in receiver.received if r.type == "person.erased"]
    assert (heard.data["person_id"], heard.data["lead_ids"]) == (person, answer["lead_ids"])
    assert datetime.fromisoformat(heard.data["erased_at"]) == datetime.fromisoformat(answer["erased_at"])
    # No value of theirs in any column of any table, the pipeline log and the dead letters included.
    hits, scanned = await scan_database(store.engine, A_VALUES)
    assert hits == [] and {"outbox", "dead_letters", "leads", "persons", "lead_history", "person_keys"} <= scanned
    hits, _ = await scan_database(store.engine, B_VALUES)
    assert {table for table, *_ in hits} >= {"leads", "outbox", "webhook_deliveries"}
    assert found_in(as_text((await pipeline.client.get(f"/v1/people/{person}/export", headers=admin)).json()),
                    A_VALUES) == []
    # The lead rows stay, anonymised, and reports count them.
    lead = (await pipeline.client.get(f"/v1/leads/{a1['lead_id']}", headers=admin)).json()
    assert lead["status"] == a1["status"] and lead["owner"] == a1["owner"]
    assert lead["contact"] == {"erased": True, "country": "CN", "industry": "manufacturing", "consent": False}
    funnel = (await pipeline.client.get("/v1/reports/funnel", headers=admin)).json()
    assert sum(row["received"] for row in funnel["rows"]) == 3
    # Erasing again answers the same and emits nothing more.
    again = (await pipeline.client.delete(f"/v1/people/{person}", headers=admin)).json()
    assert again["already_erased"] is True and again["erased_at"] == answer["erased_at"]
    assert [topic for _, topic, _ in await outbox_rows(store)].count("person.erased") == 1
    # Nothing finds them again; the same email later is a new person, routed, with nothing dead-lettered.
    gone = await pipeline.client.post("/v1/people/search", json={"email": A1["email"]}, headers=admin)
    assert gone.json()["people"] == []
    back = await routed(pipeline, {"email": A1["email"], "name": "王磊", "country": "CN"})
    assert back["person_id"] != person
    found = await pipeline.client.post("/v1/people/search", json={"email": A1["email"]}, headers=admin)
    assert [p["person_id"] for p in found.json()["people"]] == [back["person_id"]]
    assert b["person_id"] != person
    async with store.read() as uow:
        assert await uow.inbox.dead_letters() == []


def raw_hits(data_dir: Path) -> dict[str, int]:
    """How often a personal value is in the bytes of each file of the data dir (the SQLite file,
    its write-ahead log, anything else), UTF-8 as stored."""
    needles = [value.encode() for value in A_VALUES]
    return {path.name: sum(path.read_bytes().count(needle) for needle in needles)
            for path in sorted(data_dir.rglob("*")) if path.is_file()}


async def test_the_log_keeps_its_rows_as_tombstones_and_the_files_keep_no_old_copy(embedded):
    admin = bearer(await embedded.token("admin"))
    lead = await routed(embedded, A1)
    await routed(embedded, A2)
    store = embedded.runtime.store
    data_dir = embedded.runtime.settings.data_dir
    assert sum(raw_hits(data_dir).values()) > 0  # the write-ahead log holds them, for one
    before = await outbox_rows(store)
    await embedded.client.delete(f"/v1/people/{lead['person_id']}", headers=admin)
    await embedded.client.delete(f"/v1/people/{lead['person_id']}", headers=admin)
    after = await outbox_rows(store)
    assert [seq for seq, *_ in after[:len(before)]] == [seq for seq, *_ in before]
    assert all(is_event_tombstone(payload) for _, topic, payload in after[:len(before)])
    erasures = [payload for _, topic, payload in after if topic == "person.erased"]
    assert len(erasures) == 1 and PersonErased.type.encode() in erasures[0]
    # Not even in the files' free space or the write-ahead log's old pages.
    assert set(raw_hits(data_dir).values()) <= {0}


async def outbox_rows(store) -> list[tuple[int, str, bytes]]:
    from sqlalchemy import select

    from leadrelay.shared.adapters.sql import schema

    async with store.engine.connect() as conn:
        rows = await conn.execute(select(schema.outbox.c.seq, schema.outbox.c.topic, schema.outbox.c.payload)
                                  .order_by(schema.outbox.c.seq))
        return [(row.seq, row.topic, bytes(row.payload)) for row in rows]
