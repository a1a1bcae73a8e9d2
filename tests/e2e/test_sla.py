"""SLA clocks driven by a controllable clock: the ladder, a rep's action stopping it, restarts,
replicas, business hours, and the team pool."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select

from leadrelay.services.router.scheduler import SlaScheduler
from leadrelay.shared.adapters.sql import schema
from leadrelay.shared.adapters.sql.store import SqlStore
from leadrelay.shared.settings import Settings
from leadrelay.shared.shell.bootstrap import build_runtime
from tests.conftest import Pipeline, chat_messages_for, start_pipeline, stop_pipeline

HOT = {"email": "boss@bigfactory.cn", "name": "Wang Fang", "company": "Big Factory", "title": "CEO",
       "employees": 5000}


async def scheduler_pass(pipeline: Pipeline) -> int:
    return await SlaScheduler(pipeline.runtime.store, pipeline.runtime.metrics, pipeline.runtime.clock).fire_due()


async def messages_of_kind(chat, lead_id: str, word: str, count: int = 1, timeout: float = 15) -> list:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        found = [m for m in chat_messages_for(chat, lead_id) if word in m.payload.get("text", "")]
        if len(found) >= count:
            return found
        assert asyncio.get_running_loop().time() < deadline, f"no '{word}' message for {lead_id}"
        await asyncio.sleep(0.05)


async def admin_view(pipeline: Pipeline, lead_id: str) -> dict:
    admin = await pipeline.token("admin")
    response = await pipeline.client.get(f"/v1/leads/{lead_id}", headers={"Authorization": f"Bearer {admin}"})
    return response.json()


async def test_the_full_ladder_reminds_escalates_then_reassigns_to_the_backup(clocked_pipeline, chat, clock):
    pipeline = clocked_pipeline
    lead_id = (await pipeline.post_lead(HOT)).json()["lead_id"]
    lead = await pipeline.wait_for(lead_id)
    owner = lead["owner"]
    backup = {"rep-a": "rep-b", "rep-b": "rep-a"}[owner]
    first_touch = {c["step"]: c for c in lead["sla_clocks"] if c["clock"] == "first_touch"}
    assert set(first_touch) == {"remind", "escalate", "reassign"}

    clock.advance(minutes=8)  # hot: 15 min first touch; the reminder is at 50%
    await scheduler_pass(pipeline)
    reminder = await messages_of_kind(chat, lead_id, "Reminder")
    assert reminder[0].token.endswith("webhook_a" if owner == "rep-a" else "webhook_b")

    clock.advance(minutes=8)  # 16 min: breached, escalated to the manager
    await scheduler_pass(pipeline)
    escalation = await messages_of_kind(chat, lead_id, "Escalation", count=2)
    assert any(m.token.endswith("webhook_mgr") for m in escalation)

    clock.advance(minutes=7)  # 23 min: past 150%, the backup owner gets it
    await scheduler_pass(pipeline)
    lead = await pipeline.wait_for(lead_id)
    assert lead["owner"] == backup
    await messages_of_kind(chat, lead_id, "reassigned", count=2)

    kinds = [h["kind"] for h in lead["history"]]
    assert kinds.index("sla_reminder") < kinds.index("sla_breached") < kinds.index("reassigned")
    breached = next(h for h in lead["history"] if h["kind"] == "sla_breached")
    assert breached["at"] == (clock.start + timedelta(minutes=16)).isoformat()
    metrics = (await pipeline.client.get("/metrics")).text
    assert 'leadrelay_sla_breaches_total{clock="first_touch",team="enterprise"} 1.0' in metrics


async def test_a_rep_acting_at_the_last_second_stops_the_ladder(clocked_pipeline, chat, clock):
    pipeline = clocked_pipeline
    lead_id = (await pipeline.post_lead(HOT)).json()["lead_id"]
    owner = (await pipeline.wait_for(lead_id))["owner"]
    rep_token = await pipeline.token("rep", owner)

    clock.advance(minutes=14, seconds=59)
    await scheduler_pass(pipeline)
    response = await pipeline.client.post(f"/v1/leads/{lead_id}/activity", json={"action": "contacted"},
                                          headers={"Authorization": f"Bearer {rep_token}"})
    assert response.status_code == 200, response.text
    clock.advance(minutes=30)
    await scheduler_pass(pipeline)

    lead = await admin_view(pipeline, lead_id)
    assert lead["status"] == "contacted" and lead["owner"] == owner
    kinds = [h["kind"] for h in lead["history"]]
    assert "sla_reminder" in kinds and "sla_breached" not in kinds and "reassigned" not in kinds
    states = {(c["clock"], c["step"]): c["state"] for c in lead["sla_clocks"]}
    assert states[("first_touch", "escalate")] == "cancelled"
    assert states[("handoff", "remind")] == "cancelled"
    assert states[("recycle", "return_to_pool")] == "pending"
    metrics = (await pipeline.client.get("/metrics")).text
    assert "leadrelay_time_to_first_touch_seconds_count 1.0" in metrics


async def test_a_restart_between_two_steps_neither_forgets_nor_repeats_a_step(tmp_path, chat, clock):
    settings = Settings(data_dir=tmp_path / "data", public_url="http://leadrelay.test")
    pipeline, stop, task = await start_pipeline(build_runtime(settings, clock), chat, embedded=True)
    lead_id = (await pipeline.post_lead(HOT)).json()["lead_id"]
    await pipeline.wait_for(lead_id)
    clock.advance(minutes=8)
    await scheduler_pass(pipeline)
    await messages_of_kind(chat, lead_id, "Reminder")
    await stop_pipeline(pipeline, stop, task)

    restarted, stop, task = await start_pipeline(build_runtime(settings, clock), chat, embedded=True,
                                                 source="web-after-restart")
    try:
        clock.advance(minutes=8)
        await scheduler_pass(restarted)
        await messages_of_kind(chat, lead_id, "Escalation")
        lead = await admin_view(restarted, lead_id)
        kinds = [h["kind"] for h in lead["history"]]
        assert kinds.count("sla_reminder") == 1 and kinds.count("sla_breached") == 1
        assert len([m for m in chat_messages_for(chat, lead_id) if "Reminder" in m.payload["text"]]) == 1
    finally:
        await stop_pipeline(restarted, stop, task)


async def test_two_schedulers_fire_each_due_step_exactly_once(clocked_pipeline, clock):
    pipeline = clocked_pipeline
    ids = [(await pipeline.post_lead(dict(HOT, email=f"boss{i}@bigfactory.cn"))).json()["lead_id"] for i in range(12)]
    for lead_id in ids:
        await pipeline.wait_for(lead_id)
    clock.advance(minutes=16)  # remind and escalate of first touch are both due
    other = SqlStore(pipeline.runtime.store.url, clock=clock)
    try:
        schedulers = [SlaScheduler(store, pipeline.runtime.metrics, clock)
                      for store in (pipeline.runtime.store, other, pipeline.runtime.store, other)]
        await asyncio.gather(*(s.fire_due() for s in schedulers))
    finally:
        await other.dispose()
    async with pipeline.runtime.store.read() as uow:
        events = (await uow.tx.conn.execute(
            select(schema.outbox.c.payload).where(schema.outbox.c.topic == "lead.sla"))).scalars().all()
    fired = [(e["subject"], e["data"]["step"]) for e in (__import__("orjson").loads(p) for p in events)]
    assert sorted(fired) == sorted((lead_id, step) for lead_id in ids for step in ("remind", "escalate"))


async def test_business_hours_clocks_skip_the_weekend(tmp_path, chat, clock):
    from tests.conftest import policy_text

    # Friday 17:50 in Shanghai (two days after the Wednesday epoch): ten minutes before closing.
    clock.advance(days=2, hours=7, minutes=50)
    friday = clock.now
    monday = friday + timedelta(days=3)
    text = policy_text(chat).replace("  clock: wall", "  clock: business_hours")
    settings = Settings(data_dir=tmp_path / "data", public_url="http://leadrelay.test")
    pipeline, stop, task = await start_pipeline(build_runtime(settings, clock), chat, embedded=True,
                                                policy=text)
    try:
        lead = await pipeline.wait_for((await pipeline.post_lead(HOT)).json()["lead_id"])
        due = {(c["clock"], c["step"]): c["due_at"] for c in lead["sla_clocks"]}
        # 15 min of open time: 10 on Friday, 5 on Monday morning.
        assert due[("first_touch", "remind")] == (friday + timedelta(minutes=7, seconds=30)).isoformat()
        assert due[("first_touch", "escalate")] == monday.replace(hour=1, minute=5).isoformat()  # 09:05 local
        # 24h handoff on business hours is one business day: Monday 17:50.
        assert due[("handoff", "escalate")] == monday.isoformat()

        clock.advance(minutes=8)  # Friday 17:58: the reminder fires, the escalation waits for Monday
        await scheduler_pass(pipeline)
        clock.advance(days=2, hours=14)  # Sunday 07:58 local: still nothing
        await scheduler_pass(pipeline)
        kinds = [h["kind"] for h in (await admin_view(pipeline, lead["lead_id"]))["history"]]
        assert kinds.count("sla_reminder") == 1 and "sla_breached" not in kinds
        clock.advance(days=1, hours=1, minutes=8)  # Monday 09:06 local
        await scheduler_pass(pipeline)
        await messages_of_kind(chat, lead["lead_id"], "Escalation")
    finally:
        await stop_pipeline(pipeline, stop, task)


async def test_an_offer_not_accepted_in_time_passes_to_the_next_rep_with_its_age_kept(tmp_path, chat, clock):
    from tests.conftest import policy_text

    text = policy_text(chat).replace("  recycle_unworked_after: 7d", "  recycle_unworked_after: 7d\n  offer_timeout: 5m")
    settings = Settings(data_dir=tmp_path / "data", public_url="http://leadrelay.test")
    pipeline, stop, task = await start_pipeline(build_runtime(settings, clock), chat, embedded=True,
                                                policy=text)
    try:
        lead_id = (await pipeline.post_lead(HOT)).json()["lead_id"]
        first = await pipeline.wait_for(lead_id, state=("offered",))
        due_before = {(c["clock"], c["step"]): c["due_at"] for c in first["sla_clocks"] if c["clock"] != "offer"}

        clock.advance(minutes=5, seconds=1)
        await scheduler_pass(pipeline)
        second = await admin_view(pipeline, lead_id)
        assert second["status"] == "offered" and second["owner"] not in (None, first["owner"])
        assert first["owner"] in second["decision"]["offer_lapsed_by"]
        lapsed = next(c for c in second["decision"]["candidates"] if c["rep"] == first["owner"])
        assert lapsed == {"rep": first["owner"], "kept": False, "reason": "let the offer lapse"}
        pending = {(c["clock"], c["step"]): c for c in second["sla_clocks"] if c["state"] == "pending"}
        # The lead kept its age: the first-touch deadlines did not move with the new owner.
        assert pending[("first_touch", "escalate")]["due_at"] == due_before[("first_touch", "escalate")]

        token = await pipeline.token("rep", second["owner"])
        accepted = await pipeline.client.post(f"/v1/leads/{lead_id}/activity", json={"action": "accepted"},
                                              headers={"Authorization": f"Bearer {token}"})
        assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"
        clock.advance(minutes=10)
        await scheduler_pass(pipeline)
        assert (await admin_view(pipeline, lead_id))["owner"] == second["owner"]
    finally:
        await stop_pipeline(pipeline, stop, task)
