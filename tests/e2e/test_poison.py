"""A poison event goes to the dead-letter topic and the line keeps moving; redrive brings it back."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from leadrelay.shared.adapters.sql import schema
from leadrelay.shared.events import Envelope, LeadContact, LeadQualified
from leadrelay.shared.shell.redrive import redrive
from tests.conftest import Pipeline


async def dead_letters(pipeline: Pipeline, count: int, timeout: float = 20) -> list:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        async with pipeline.runtime.store.read() as uow:
            rows = await uow.inbox.dead_letters()
        if len(rows) >= count:
            return rows
        assert asyncio.get_running_loop().time() < deadline, f"{len(rows)} dead letters, expected {count}"
        await asyncio.sleep(0.1)


async def test_poison_events_are_dead_lettered_and_good_leads_still_flow(pipeline: Pipeline):
    unknown_version = LeadQualified(
        lead_id="ghost", person_id="p", source="web", received_at=pipeline.runtime.clock(), contact=LeadContact(),
        score=0, grade="cold", reasons=[], policy_version=999)
    async with pipeline.runtime.store.transaction() as uow:
        await uow.outbox.emit_raw("lead.received", "k1", b"{not json", "poison-1")
        await uow.outbox.emit_raw("lead.received", "k2", b'{"id": "x", "type": "lead.received.v1"}', "poison-2")
        await uow.outbox.emit(Envelope.wrap(unknown_version, source="test", subject="ghost", key="k3", correlation_id="c",
                                     time=pipeline.runtime.clock()))

    lead_id = (await pipeline.post_lead({"email": "after.poison@example.com"})).json()["lead_id"]
    assert (await pipeline.wait_for(lead_id))["owner"]

    letters = await dead_letters(pipeline, 3)
    assert {(row.consumer, row.topic) for row in letters} == {("scoring", "lead.received"), ("router", "lead.qualified")}
    assert any("policy" in row.error.lower() or "NoResultFound" in row.error for row in letters if row.consumer == "router")
    async with pipeline.runtime.store.read() as uow:
        dlq_topics = set((await uow.tx.conn.execute(
            select(schema.outbox.c.topic).where(schema.outbox.c.topic.like("%.dlq.%")))).scalars())
    assert dlq_topics == {"lead.received.dlq.scoring", "lead.qualified.dlq.router"}
    metrics = (await pipeline.client.get("/metrics")).text
    assert 'leadrelay_events_dead_lettered_total{consumer="scoring"} 2.0' in metrics


async def test_a_redriven_event_is_processed_once_its_cause_is_fixed(pipeline: Pipeline):
    lead_id = (await pipeline.post_lead({"email": "redrive.me@example.com"})).json()["lead_id"]
    await pipeline.wait_for(lead_id)
    async with pipeline.runtime.store.read() as uow:
        lead = await uow.leads.get(lead_id)
        next_version = (await uow.policies.current())[0] + 1
    # A qualified event for a lead the router will reject: its policy version does not exist yet.
    qualified = LeadQualified(
        lead_id=lead_id, person_id=lead.person_id, source="web", received_at=pipeline.runtime.clock(),
        contact=LeadContact(email="redrive.me@example.com"), score=0, grade="cold", reasons=[], policy_version=next_version)
    async with pipeline.runtime.store.transaction() as uow:
        await uow.outbox.emit(Envelope.wrap(qualified, source="test", subject=lead_id, key=lead.identity_key,
                                     correlation_id=lead.correlation_id, time=pipeline.runtime.clock()))
    await dead_letters(pipeline, 1)
    from tests.conftest import policy_text  # the fix: that version of the policy now exists

    async with pipeline.runtime.store.transaction() as uow:
        await uow.policies.store(policy_text(None) + "\n# v2\n", "test")
    assert await redrive(pipeline.runtime.store) == 1
    deadline = asyncio.get_running_loop().time() + 20
    while True:
        async with pipeline.runtime.store.read() as uow:
            decisions = await uow.leads.decisions(lead_id)
            remaining = await uow.inbox.dead_letters()
        if len(decisions) == 2 and not remaining:
            break
        assert asyncio.get_running_loop().time() < deadline, (len(decisions), len(remaining))
        await asyncio.sleep(0.1)
    assert decisions[-1].policy_version == next_version


async def test_a_lead_posted_before_any_policy_waits_for_one_instead_of_being_dead_lettered(tmp_path, chat):
    import httpx

    from leadrelay.shared.settings import Settings
    from leadrelay.shared.shell.bootstrap import apply_policy, build_app, build_runtime, create_source, run_services
    from tests.conftest import policy_text

    runtime = build_runtime(Settings(data_dir=tmp_path / "data"))
    await runtime.store.create_schema()
    key = await create_source(runtime, "web")
    stop = asyncio.Event()
    services = asyncio.create_task(run_services(runtime, ("scoring", "router", "notifier"), stop))
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=build_app(runtime)), base_url="http://t") as client:
            response = await client.post("/v1/leads", json={"email": "early@example.com"},
                                         headers={"Authorization": f"Bearer {key}"})
            assert response.status_code == 202
            await asyncio.sleep(1.5)  # longer than every retry delay of a poison event together
            async with runtime.store.read() as uow:
                assert await uow.inbox.dead_letters() == []
            await apply_policy(runtime, policy_text(chat), "test")
            deadline = asyncio.get_running_loop().time() + 20
            while True:
                async with runtime.store.read() as uow:
                    lead = await uow.leads.get(response.json()["lead_id"])
                if lead is not None and lead.state == "assigned":
                    break
                assert asyncio.get_running_loop().time() < deadline, "the waiting lead was never routed"
                await asyncio.sleep(0.1)
    finally:
        stop.set()
        await asyncio.wait_for(services, 30)
