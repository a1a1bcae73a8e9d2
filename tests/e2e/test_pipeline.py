"""The whole lead path, on both backends (embedded SQLite, and Kafka + PostgreSQL): post → score → route → chat, with the explanation."""

from __future__ import annotations

import asyncio

from tests.conftest import Pipeline, chat_messages_for


async def test_a_hot_lead_goes_to_the_least_loaded_enterprise_rep_and_reaches_their_chat(pipeline: Pipeline, chat):
    response = await pipeline.post_lead({
        "email": "li.wei@bigfactory.cn", "name": "Li Wei", "company": "Big Factory", "title": "CTO",
        "employees": 2000, "country": "CN", "industry": "manufacturing",
    })
    assert response.status_code == 202
    lead = await pipeline.wait_for(response.json()["lead_id"])

    assert lead["grade"] == "hot"
    assert {r["rule"] for r in lead["score_reasons"]} == {"senior-title", "big-company"}
    assert lead["owner"] in {"rep-a", "rep-b"}
    decision = lead["decision"]
    assert decision["rule"] == "hot-enterprise" and decision["strategy"] == "least_loaded"
    assert decision["policy_version"] == lead["policy_version"]
    considered = {c["rep"]: c for c in decision["candidates"]}
    assert considered[lead["owner"]]["kept"] is True
    assert "rep-c" not in considered or considered["rep-c"]["kept"] is False

    messages = await wait_for_messages(chat, lead["lead_id"], 1)
    payload = messages[0].payload
    assert "blocks" in payload and "Li Wei" in payload["text"]
    assert messages[0].token.endswith("webhook_a" if lead["owner"] == "rep-a" else "webhook_b")
    lead = await pipeline.wait_for(lead["lead_id"])
    assert any(n["state"] == "sent" for n in lead["notifications"])


async def test_round_robin_shares_ordinary_leads_evenly(pipeline: Pipeline, chat):
    ids = []
    for i in range(6):
        response = await pipeline.post_lead({"email": f"person{i}@example.com", "name": f"P {i}"})
        ids.append(response.json()["lead_id"])
    owners = [(await pipeline.wait_for(lead_id))["owner"] for lead_id in ids]
    assert owners == ["rep-c"] * 6  # the smb pool has one rep; its cursor still advances
    async with pipeline.runtime.store.read() as uow:
        assert (await uow.roster.cursors()).get("everyone-else") == 6


async def test_a_returning_person_goes_back_to_their_owner(pipeline: Pipeline, chat):
    first = await pipeline.post_lead({"email": "repeat@bigco.com", "title": "VP Sales", "employees": 900})
    first_lead = await pipeline.wait_for(first.json()["lead_id"])
    second = await pipeline.post_lead({"email": "Repeat@BigCo.com", "phone": "+14155550100"})
    second_lead = await pipeline.wait_for(second.json()["lead_id"])
    assert second_lead["person_id"] == first_lead["person_id"]
    assert second_lead["owner"] == first_lead["owner"]
    assert second_lead["decision"]["rule"] == "returning-person"


async def test_metrics_show_acceptance_assignment_and_latency(pipeline: Pipeline, chat):
    response = await pipeline.post_lead({"email": "m@example.com"})
    lead = await pipeline.wait_for(response.json()["lead_id"])
    await wait_for_messages(chat, lead["lead_id"], 1)
    await asyncio.sleep(0.1)
    text = (await pipeline.client.get("/metrics")).text
    assert 'leadrelay_leads_accepted_total{source="web"} 1.0' in text
    assert f'leadrelay_assignments_total{{rep="{lead["owner"]}",rule="everyone-else"}} 1.0' in text
    assert "leadrelay_intake_to_assigned_seconds_count 1.0" in text
    assert "leadrelay_intake_to_notified_seconds_count 1.0" in text


async def wait_for_messages(chat, lead_id: str, count: int, timeout: float = 15.0) -> list[dict]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        found = chat_messages_for(chat, lead_id)
        if len(found) >= count:
            return found
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"no chat message for {lead_id}; got {len(chat.messages('slack'))} messages")
        await asyncio.sleep(0.05)
