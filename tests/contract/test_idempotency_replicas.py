"""Two intake replicas answering one Idempotency-Key at once (``services/intake/accept.py``), each
with its own store on one database, as two processes would be: the store decides which body is
answered 202, never the order in which the replicas publish."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from leadrelay.services.intake.accept import Accepted, accept_lead, canonical_json
from leadrelay.shared.adapters.local_bus import LocalBus
from leadrelay.shared.adapters.sql import schema
from leadrelay.shared.adapters.sql.store import SqlStore
from leadrelay.shared.events import Envelope, LeadContact
from leadrelay.shared.metrics import Metrics
from leadrelay.shared.ports import BusUnavailable
from leadrelay.shared.problems import Problem
from leadrelay.shared.runtime import Runtime
from leadrelay.shared.settings import Settings
from tests.contract.conftest import SqlStoreHarness

# Bounds every wait, so a replica stuck on the other fails the test instead of hanging it.
TIMEOUT_S = 10.0

pytestmark = pytest.mark.parametrize("store_backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
                                     indirect=True)


class HeldBus(LocalBus):
    """The embedded log, whose ``publish`` this test can hold after the event is written (a slow
    acknowledgement) and then answer, or fail as a timeout would ("maybe stored")."""

    def __init__(self, store: SqlStore) -> None:
        super().__init__(store)
        self.written = asyncio.Event()
        self.release = asyncio.Event()
        self.fail = False

    async def publish(self, envelope: Envelope) -> None:
        await super().publish(envelope)
        self.written.set()
        await self.release.wait()
        if self.fail:
            raise BusUnavailable("the acknowledgement timed out")


def replica(store: SqlStore, bus: LocalBus) -> Runtime:
    return Runtime(settings=Settings(identity_salt="test-salt"), store=store, bus=bus,
                   metrics=Metrics(), clock=store.clock)


async def post(runtime: Runtime, name: str, key: str = "form-1") -> Accepted | int:
    """The lead's answer: Accepted (202) or the problem's status."""
    contact = LeadContact(email="race@example.com", name=name)
    try:
        return await accept_lead(runtime, source="web", source_kind="api", contact=contact, external_id=None,
                                 dedup_key=key, body_fingerprint=canonical_json({"email": "race@example.com",
                                                                                 "name": name}))
    except Problem as problem:
        return problem.status


async def published_names(store: SqlStore) -> dict[str, str]:
    """The lead id and contact name of every event in the log."""
    async with store.engine.connect() as conn:
        payloads = (await conn.execute(select(schema.outbox.c.payload).order_by(schema.outbox.c.seq))).scalars()
        events = [Envelope.from_bytes(bytes(payload)) for payload in payloads]
    return {event.data["lead_id"]: event.data["contact"]["name"] for event in events}


async def test_the_body_reserved_first_is_the_one_answered_and_published(store_harness: SqlStoreHarness):
    first_store, second_store = store_harness.another_store(), store_harness.another_store()
    held = HeldBus(first_store)
    first, second = replica(first_store, held), replica(second_store, LocalBus(second_store))

    # The first replica's event is in the log, its acknowledgement slow; meanwhile the second
    # replica gets another body under the same key.
    first_answer = asyncio.create_task(post(first, "Racer A"))
    await asyncio.wait_for(held.written.wait(), TIMEOUT_S)
    second_answer = await asyncio.wait_for(post(second, "Racer B"), TIMEOUT_S)
    held.release.set()
    first_answer = await asyncio.wait_for(first_answer, TIMEOUT_S)

    assert second_answer == 409
    assert isinstance(first_answer, Accepted) and not first_answer.replayed
    assert await published_names(first_store) == {first_answer.lead_id: "Racer A"}  # B was never published
    # Settled: a retry of either body on either replica gets the same answers.
    assert await post(second, "Racer B") == 409
    assert await post(second, "Racer A") == Accepted(first_answer.lead_id, replayed=True)


async def test_a_reservation_answered_by_another_replica_is_not_released_by_its_failed_publish(
        store_harness: SqlStoreHarness):
    first_store, second_store = store_harness.another_store(), store_harness.another_store()
    held = HeldBus(first_store)
    first, second = replica(first_store, held), replica(second_store, LocalBus(second_store))

    # The first replica reserves the key and publishes; its acknowledgement will time out. The
    # second gets the same body meanwhile, publishes it too, and answers 202.
    first_answer = asyncio.create_task(post(first, "Same Body"))
    await asyncio.wait_for(held.written.wait(), TIMEOUT_S)
    second_answer = await asyncio.wait_for(post(second, "Same Body"), TIMEOUT_S)
    held.fail = True
    held.release.set()

    assert await asyncio.wait_for(first_answer, TIMEOUT_S) == 503
    assert isinstance(second_answer, Accepted) and second_answer.replayed
    # The key stayed bound to the body answered 202: a corrected body is refused, not a second 202.
    assert await post(first, "Corrected Body") == 409
    assert await post(second, "Corrected Body") == 409
    assert await published_names(first_store) == {second_answer.lead_id: "Same Body"}


async def test_a_reservation_whose_publish_failed_is_released_for_a_corrected_retry(store_harness: SqlStoreHarness):
    first_store, second_store = store_harness.another_store(), store_harness.another_store()
    held = HeldBus(first_store)
    first, second = replica(first_store, held), replica(second_store, LocalBus(second_store))
    held.fail = True
    held.release.set()

    assert await asyncio.wait_for(post(first, "Typo Nmae"), TIMEOUT_S) == 503
    corrected = await asyncio.wait_for(post(second, "Fixed Name"), TIMEOUT_S)

    assert isinstance(corrected, Accepted) and not corrected.replayed
    # The refused post was written after all ("maybe stored"): under its own lead id, so the
    # corrected lead is not taken for a repeat of it and dropped.
    names = await published_names(first_store)
    assert names[corrected.lead_id] == "Fixed Name"
    assert sorted(names.values()) == ["Fixed Name", "Typo Nmae"]
