"""The embedded log group-commits concurrent publishes: many events per transaction, and still
every publish returns only once its own event is on disk (or raises)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from leadrelay.shared.adapters.local_bus import LocalBus
from leadrelay.shared.adapters.sql.store import SqlStore
from leadrelay.shared.events import Envelope, LeadActivity
from leadrelay.shared.ports import BusUnavailable

AT = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)


def event(i: int) -> Envelope:
    activity = LeadActivity(lead_id=f"lead-{i}", action="contacted", actor="rep-a", at=AT)
    return Envelope.wrap(activity, source="test", subject=f"lead-{i}", key=f"k-{i}", correlation_id=f"lead-{i}",
                         id=f"event-{i}", time=AT)


async def test_concurrent_publishes_share_commits_and_every_one_is_durable_when_it_returns(tmp_path: Path):
    store = SqlStore(f"sqlite+aiosqlite:///{tmp_path}/t.db")
    await store.create_schema()
    bus = LocalBus(store)
    commits: list[set[str]] = []
    store.commit_listeners.append(commits.append)
    try:
        await asyncio.gather(*(bus.publish(event(i)) for i in range(200)))
        reader = bus.subscribe("g", [LeadActivity.topic])
        seen = []
        while batch := await reader.poll(max_records=100, timeout_s=0.1):
            seen += [delivery.offset for delivery in batch]
    finally:
        await store.dispose()
    assert len(seen) == 200
    # Fewer transactions than events: the writer took what queued while the first one committed.
    assert len(commits) < 200


async def test_when_the_round_fails_every_caller_in_it_is_told_and_none_returns_normally(tmp_path: Path):
    folder = tmp_path / "gone"
    store = SqlStore(f"sqlite+aiosqlite:///{folder}/t.db")  # creates the folder…
    folder.rmdir()  # …which then disappears
    bus = LocalBus(store)
    try:
        results = await asyncio.gather(*(bus.publish(event(i)) for i in range(20)), return_exceptions=True)
    finally:
        await store.dispose()
    assert all(isinstance(result, BusUnavailable) for result in results)


async def test_a_caller_that_goes_away_does_not_cancel_the_others_write(tmp_path: Path):
    store = SqlStore(f"sqlite+aiosqlite:///{tmp_path}/t.db")
    await store.create_schema()
    bus = LocalBus(store)
    try:
        leaving = asyncio.create_task(bus.publish(event(1)))
        staying = asyncio.create_task(bus.publish(event(2)))
        await asyncio.sleep(0)
        leaving.cancel()
        await staying
        with pytest.raises(asyncio.CancelledError):
            await leaving
        reader = bus.subscribe("g", [LeadActivity.topic])
        ids = set()
        while batch := await reader.poll(max_records=100, timeout_s=0.1):
            ids |= {Envelope.from_bytes(d.payload).id for d in batch}
    finally:
        await store.dispose()
    assert ids == {"event-1", "event-2"}  # the event of the caller that left was written all the same
