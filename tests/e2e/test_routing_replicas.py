"""Router replicas on PostgreSQL: decisions made side by side over overlapping pools give the
very per-rep counts that the same decisions give one at a time (round robin, credits spent
once, caps never exceeded), though each decision locks only its own pool's rows.

Each replica is a store of its own (its own engine and connections, as another process would
have) with its own router handler, working through its share of the leads in order, as a
consumer works through its partitions."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import text

from leadrelay.services.router.handler import RouterHandler
from leadrelay.shared.adapters.sql import schema
from leadrelay.shared.adapters.sql.store import SqlStore
from leadrelay.shared.events import Envelope, LeadContact, LeadQualified
from leadrelay.shared.metrics import Metrics
from tests.conftest import FakeClock, scratch_database

pytestmark = pytest.mark.postgres

NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
ALWAYS = {"days": ["mon-sun"], "start": "00:00", "end": "24:00"}
TIMEOUT_S = 60.0


def rep(rep_id: str, team: str, **fields: Any) -> dict[str, Any]:
    return {"id": rep_id, "team": team, "working_hours": ALWAYS, **fields}


# Three pools. East and west share rep x; east's a1 holds two credits; the SMB desk has caps.
POLICY = json.dumps({
    "timezone": "Asia/Shanghai",
    "teams": [{"name": "east", "manager": "m-east"}, {"name": "west", "manager": "m-west"},
              {"name": "smb", "manager": "m-smb", "fallback_queue": "smb-queue"}],
    "reps": [rep("a1", "east"), rep("a2", "east"), rep("a3", "east"), rep("x", "east"),
             rep("w1", "west"), rep("w2", "west"),
             rep("s1", "smb", capacity={"open": 3}), rep("s2", "smb", capacity={"open": 3})],
    "rules": [{"name": "china", "when": {"country": "CN"}, "pool": {"reps": ["a1", "a2", "a3", "x"]}},
              {"name": "brazil", "when": {"country": "BR"}, "pool": {"reps": ["w1", "w2", "x"]}},
              {"name": "smb", "pool": {"team": "smb"}}],
})
COUNTRIES = ["CN"] * 22 + ["BR"] * 15 + ["JP"] * 10


def leads() -> list[tuple[LeadQualified, Envelope]]:
    """The leads, countries interleaved the way they would arrive."""
    order = sorted(range(len(COUNTRIES)), key=lambda n: (n * 7) % len(COUNTRIES))
    made = []
    for n in order:
        lead_id = f"lead-{n:03d}"
        event = LeadQualified(lead_id=lead_id, person_id=f"person-{lead_id}", source="web", received_at=NOW,
                              contact=LeadContact(name="Li Wei", country=COUNTRIES[n]), score=10, grade="cold",
                              reasons=[], known_owner=None, policy_version=1)
        made.append((event, Envelope.wrap(event, source="leadrelay/scoring", subject=lead_id, key=f"key-{lead_id}",
                                          correlation_id=f"corr-{lead_id}", time=NOW)))
    return made


async def prepare(store: SqlStore, batch: Sequence[tuple[LeadQualified, Envelope]]) -> None:
    async with store.engine.begin() as conn:
        names = ", ".join(f'"{table.name}"' for table in schema.metadata.sorted_tables)
        await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY"))
    async with store.transaction() as uow:
        await uow.policies.store(POLICY)
        await uow.roster.add_credit("a1", 2, "two junk leads", "m-east", None)
        for event, _ in batch:
            await uow.people.save(event.person_id, {}, None, 1, NOW, NOW, [f"key-{event.lead_id}"], new=True)
            await uow.leads.insert(
                lead_id=event.lead_id, person_id=event.person_id, source="web", identity_key=f"key-{event.lead_id}",
                correlation_id=f"corr-{event.lead_id}", received_at=NOW, contact=event.contact.model_dump(mode="json"),
                score=10, grade="cold", reasons=[], duplicate_of=None, state="qualified", policy_version=1)


async def route_all(replica: SqlStore, batch: Sequence[tuple[LeadQualified, Envelope]], journal: list[str]) -> None:
    handler = RouterHandler(Metrics(), FakeClock(NOW))
    for event, envelope in batch:
        journal.append(f"begin {event.lead_id}")
        async with replica.transaction() as uow:
            await handler(event, envelope, uow)
        journal.append(f"commit {event.lead_id}")


async def fairness(store: SqlStore) -> dict[str, Any]:
    async with store.read() as uow:
        loads = await uow.roster.loads()
        queued = await uow.leads.where(state="queued", limit=100)
        decided = [len(await uow.leads.decisions(f"lead-{n:03d}")) for n in range(len(COUNTRIES))]
        return {"assigned": {rep: load.assigned_total for rep, load in loads.items() if load.assigned_total},
                "open": {rep: load.open_leads for rep, load in loads.items() if load.open_leads},
                "credits": await uow.roster.credits(), "cursors": await uow.roster.cursors(),
                "queued": len(queued), "decisions per lead": set(decided)}


def overlapped(journal: list[str]) -> bool:
    """Whether some transaction began while another was open (the replicas did run side by side)."""
    open_now = 0
    for entry in journal:
        if entry.startswith("begin"):
            if open_now:
                return True
            open_now += 1
        else:
            open_now -= 1
    return False


async def test_replicas_deciding_side_by_side_give_the_counts_of_one_decision_at_a_time():
    batch = leads()
    async with scratch_database() as url:
        alone = SqlStore(url)
        try:
            await prepare(alone, batch)
            await route_all(alone, batch, [])
            one_at_a_time = await fairness(alone)
            await prepare(alone, batch)  # the same leads again, on emptied tables
        finally:
            await alone.dispose()
        replicas = [SqlStore(url) for _ in range(4)]  # started afresh, as after a deploy
        try:
            journal: list[str] = []
            shares = [batch[n::len(replicas)] for n in range(len(replicas))]  # a partition each
            await asyncio.wait_for(asyncio.gather(*(route_all(replica, share, journal)
                                                    for replica, share in zip(replicas, shares, strict=True))),
                                   TIMEOUT_S)
            side_by_side = await fairness(replicas[0])
        finally:
            for replica in replicas:
                await replica.dispose()

    assert overlapped(journal)
    assert side_by_side == one_at_a_time
    # What one at a time gives, worked out by hand: a1's two credits first, then round robin.
    assert one_at_a_time["assigned"] == {"a1": 7, "a2": 5, "a3": 5, "x": 10, "w1": 5, "w2": 5, "s1": 3, "s2": 3}
    assert one_at_a_time["credits"] == {"a1": 0}  # spent once each
    assert one_at_a_time["cursors"] == {"china": 20, "brazil": 15, "smb": 6}
    assert (one_at_a_time["queued"], one_at_a_time["decisions per lead"]) == (4, {1})  # the SMB caps held
