"""Leads held for the next shift, on the fake clock: a hot lead arriving on Friday evening, when
nobody covering it is on shift, waits (a durable clock row) and is routed at Monday 09:00, its SLA
starting then on the business clock; nothing fires early, a restart in between forgets nothing,
two schedulers route it once; ``pool`` sends it to the team pool at once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import orjson
import pytest
from sqlalchemy import select

from leadrelay.services.router.scheduler import SlaScheduler
from leadrelay.shared.adapters.sql import schema
from leadrelay.shared.adapters.sql.store import SqlStore
from leadrelay.shared.settings import Settings
from leadrelay.shared.shell.bootstrap import build_runtime
from tests.conftest import (
    FakeClock,
    Pipeline,
    chat_messages_for,
    policy_text,
    running_pipeline,
    start_pipeline,
    stop_pipeline,
)
from tests.platforms.fake_chat import FakeChat

HOT = {"email": "boss@bigfactory.cn", "name": "Wang Fang", "company": "Big Factory", "title": "CEO",
       "employees": 5000}
ALL_DAY = '    working_hours: {days: [mon, tue, wed, thu, fri, sat, sun], start: "00:00", end: "24:00"}\n'
HOT_RULE = "  - {name: hot-enterprise, when: {grade: hot}, strategy: least_loaded, pool: {team: enterprise}}"


def after_hours_policy(chat: FakeChat, mode: str) -> str:
    """The test policy with every rep on business hours (09:00-18:00 Shanghai, CN holidays), the
    SLA on the business clock, the hot rule doing ``mode`` after hours, and mgr-a reading Chinese."""
    text = policy_text(chat).replace(ALL_DAY, "").replace("  clock: wall", "  clock: business_hours")
    text = text.replace(HOT_RULE, HOT_RULE[:-1] + f", after_hours: {mode}}}")
    text = text.replace('  - {id: mgr-a, chat:', '  - {id: mgr-a, languages: [zh-CN], chat:')
    assert f"after_hours: {mode}" in text and "working_hours" not in text and "[zh-CN]" in text
    return text


def friday_evening(clock: FakeClock) -> None:
    clock.advance(days=2, hours=10)  # the epoch is a Wednesday 10:00 in Shanghai: Friday 20:00


def monday_9am(clock: FakeClock):
    return clock.start + timedelta(days=5, hours=-1)  # Monday 09:00 in Shanghai, 01:00 UTC


async def scheduler_pass(pipeline: Pipeline) -> int:
    return await SlaScheduler(pipeline.runtime.store, pipeline.runtime.metrics, pipeline.runtime.clock).fire_due()


async def admin_view(pipeline: Pipeline, lead_id: str) -> dict:
    admin = await pipeline.token("admin")
    return (await pipeline.client.get(f"/v1/leads/{lead_id}", headers={"Authorization": f"Bearer {admin}"})).json()


async def message_to(chat: FakeChat, lead_id: str, webhook: str, word: str, timeout: float = 15) -> dict:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        for message in chat_messages_for(chat, lead_id):
            if message.token.endswith(webhook) and word in orjson.dumps(message.payload).decode():
                return message.payload
        assert asyncio.get_running_loop().time() < deadline, f"no {word!r} message to {webhook} about {lead_id}"
        await asyncio.sleep(0.05)


async def assigned_events(pipeline: Pipeline, lead_ids: list[str]) -> list[dict]:
    async with pipeline.runtime.store.read() as uow:
        payloads = (await uow.tx.conn.execute(
            select(schema.outbox.c.payload).where(schema.outbox.c.topic == "lead.assigned")
            .order_by(schema.outbox.c.seq))).scalars().all()
    events = [orjson.loads(payload) for payload in payloads]
    return [e["data"] for e in events if e["subject"] in lead_ids]


@pytest.fixture(params=["embedded", "distributed"])
async def holding(request: pytest.FixtureRequest, tmp_path: Path, chat: FakeChat,
                  clock: FakeClock) -> AsyncIterator[Pipeline]:
    """The pipeline on either backend, under the hold policy, on the test's clock."""
    async with running_pipeline(request.param, tmp_path, chat, clock=clock,
                                policy=after_hours_policy(chat, "hold")) as running:
        yield running


async def test_a_lead_after_hours_is_held_and_routed_at_the_first_minute_of_the_shift(holding, chat, clock):
    friday_evening(clock)
    lead_id = (await holding.post_lead(HOT)).json()["lead_id"]
    lead = await holding.wait_for(lead_id, state=("held",))
    monday = monday_9am(clock)

    assert (lead["owner"], lead["queue"], lead["team"]) == (None, None, "enterprise")
    decision = lead["decision"]
    assert decision["via"] == "hold" and decision["held_until"] == monday.isoformat().replace("+00:00", "Z")
    assert decision["summary"] == "held until Mon 09:00 Asia/Shanghai: nobody covering enterprise on shift"
    assert [(c["clock"], c["step"], c["state"], c["due_at"]) for c in lead["sla_clocks"]] == [
        ("hold", "route", "pending", monday.isoformat())]
    [held] = [h for h in lead["history"] if h["kind"] == "held"]
    assert held["held_until"] == monday.isoformat()
    # The team's manager (who reads Chinese) hears of it, with a Reassign-to link to act now.
    told = await message_to(chat, lead_id, "webhook_mgr", "暂缓")
    assert "周一 09:00（Asia/Shanghai）" in orjson.dumps(told).decode()

    await scheduler_pass(holding)  # Friday 20:00: not due
    clock.advance(days=2, hours=12, minutes=59)  # Monday 08:59
    await scheduler_pass(holding)
    still = await admin_view(holding, lead_id)
    assert still["status"] == "held" and still["owner"] is None

    clock.advance(minutes=1)  # Monday 09:00: a covering rep comes on shift
    await scheduler_pass(holding)
    routed = await admin_view(holding, lead_id)
    assert routed["status"] == "assigned" and routed["owner"] in ("rep-a", "rep-b")
    assert routed["assigned_at"] == monday.isoformat()
    assert routed["decision"]["via"] == "strategy" and routed["decision"]["rule"] == "hot-enterprise"
    # The SLA starts at 09:00 on the business clock: 15 minutes of first touch, due 09:15.
    due = {(c["clock"], c["step"]): (c["state"], c["due_at"]) for c in routed["sla_clocks"]}
    assert due[("hold", "route")][0] == "fired"
    assert due[("first_touch", "escalate")] == ("pending", (monday + timedelta(minutes=15)).isoformat())
    kinds = [h["kind"] for h in routed["history"]]
    assert kinds.index("held") < kinds.index("assigned")
    owner_hook = {"rep-a": "webhook_a", "rep-b": "webhook_b"}[routed["owner"]]
    await message_to(chat, lead_id, owner_hook, "New hot lead")

    [held_event, routed_event] = await assigned_events(holding, [lead_id])
    assert (held_event["reason"], held_event["owner"]) == ("held", None)
    assert (routed_event["reason"], routed_event["owner"]) == ("routed", routed["owner"])
    assert routed_event["held_until"] == routed_event["assigned_at"]
    metrics = (await holding.client.get("/metrics")).text
    assert 'leadrelay_leads_held_total{rule="hot-enterprise"} 1.0' in metrics
    assert 'leadrelay_sla_steps_total{clock="hold",step="route"} 1.0' in metrics


async def test_two_schedulers_route_each_held_lead_once(holding, clock):
    friday_evening(clock)
    ids = [(await holding.post_lead(dict(HOT, email=f"boss{i}@bigfactory.cn"))).json()["lead_id"] for i in range(6)]
    for lead_id in ids:
        await holding.wait_for(lead_id, state=("held",))
    clock.now = monday_9am(clock) + timedelta(minutes=1)
    other = SqlStore(holding.runtime.store.url, clock=clock)
    try:
        schedulers = [SlaScheduler(store, holding.runtime.metrics, clock)
                      for store in (holding.runtime.store, other, holding.runtime.store, other)]
        await asyncio.gather(*(s.fire_due() for s in schedulers))
        await asyncio.gather(*(s.fire_due() for s in schedulers))  # and again: nothing left to route
    finally:
        await other.dispose()
    routed = [e for e in await assigned_events(holding, ids) if e["reason"] == "routed"]
    assert sorted(e["lead_id"] for e in routed) == sorted(ids)
    for lead_id in ids:
        lead = await admin_view(holding, lead_id)
        assert lead["status"] == "assigned"
        assert [h["kind"] for h in lead["history"]].count("assigned") == 1
    loads = (await holding.client.get("/metrics")).text
    assert 'leadrelay_sla_steps_total{clock="hold",step="route"} 6.0' in loads


async def test_a_hold_survives_a_restart_before_the_shift_starts(tmp_path, chat, clock):
    settings = Settings(data_dir=tmp_path / "data", public_url="http://leadrelay.test")
    policy = after_hours_policy(chat, "hold")
    friday_evening(clock)
    pipeline, stop, task = await start_pipeline(build_runtime(settings, clock), chat, embedded=True, policy=policy)
    lead_id = (await pipeline.post_lead(HOT)).json()["lead_id"]
    await pipeline.wait_for(lead_id, state=("held",))
    await stop_pipeline(pipeline, stop, task)

    clock.now = monday_9am(clock)
    restarted, stop, task = await start_pipeline(build_runtime(settings, clock), chat, embedded=True, policy=policy,
                                                 source="web-after-restart")
    try:
        await scheduler_pass(restarted)
        lead = await admin_view(restarted, lead_id)
        assert lead["status"] == "assigned" and lead["assigned_at"] == monday_9am(clock).isoformat()
        assert [h["kind"] for h in lead["history"]].count("assigned") == 1
    finally:
        await stop_pipeline(restarted, stop, task)


async def test_pool_sends_an_after_hours_lead_to_the_team_pool_at_once(tmp_path, chat, clock):
    friday_evening(clock)
    async with running_pipeline("embedded", tmp_path, chat, clock=clock,
                                policy=after_hours_policy(chat, "pool")) as pipeline:
        lead_id = (await pipeline.post_lead(HOT)).json()["lead_id"]
        lead = await pipeline.wait_for(lead_id, state=("pool",))
        assert (lead["owner"], lead["queue"], lead["team"]) == (None, "pool", "enterprise")
        assert lead["decision"]["via"] == "pool" and lead["sla_clocks"] == []
        assert lead["decision"]["summary"] == ("nobody covering enterprise on shift until Mon 09:00 Asia/Shanghai; "
                                               "sent to the team pool")
        claim = await pipeline.client.post(f"/v1/pool/{lead_id}/claim",
                                           headers={"Authorization": f"Bearer {await pipeline.token('rep', 'rep-b')}"})
        assert claim.status_code == 200 and claim.json()["owner"] == "rep-b"


async def test_backup_keeps_todays_behaviour_after_hours(tmp_path, chat, clock):
    friday_evening(clock)
    async with running_pipeline("embedded", tmp_path, chat, clock=clock,
                                policy=after_hours_policy(chat, "backup")) as pipeline:
        lead_id = (await pipeline.post_lead(HOT)).json()["lead_id"]
        lead = await pipeline.wait_for(lead_id, state=("queued",))
        # rep-a and rep-b back each other up, and both are off shift: the team's queue, as before.
        assert (lead["owner"], lead["queue"], lead["decision"]["via"]) == (None, "unassigned", "queue")
        assert lead["sla_clocks"] == [] and lead["decision"]["held_until"] is None


async def test_a_manager_may_give_a_held_lead_to_someone_now_and_the_hold_then_lapses(tmp_path, chat, clock):
    from tests.platforms.chat_links import buttons, path_of

    friday_evening(clock)
    async with running_pipeline("embedded", tmp_path, chat, clock=clock,
                                policy=after_hours_policy(chat, "hold")) as pipeline:
        lead_id = (await pipeline.post_lead(HOT)).json()["lead_id"]
        await pipeline.wait_for(lead_id, state=("held",))
        told = await message_to(chat, lead_id, "webhook_mgr", "暂缓")
        links = buttons("slack", told)
        assert set(links) == {"改派给…", "在 Leadrelay 中打开"}
        done = await pipeline.client.post(path_of(links["改派给…"]), data={"to_rep": "rep-b"})
        assert done.status_code == 200, done.text

        clock.now = monday_9am(clock)
        await scheduler_pass(pipeline)
        lead = await admin_view(pipeline, lead_id)
        assert (lead["status"], lead["owner"]) == ("assigned", "rep-b")
        states = {(c["clock"], c["step"]): c["state"] for c in lead["sla_clocks"]}
        assert states[("hold", "route")] == "cancelled"
        assert [h["kind"] for h in lead["history"]].count("reassigned") == 1
        assert "assigned" not in [h["kind"] for h in lead["history"]]
