"""The store port itself (``shared/ports/store.py``): a unit of work is one transaction.

Its effects commit together or not at all, ``after_commit`` callbacks run only after a commit,
other units of work never see what is not committed, ``read()`` keeps nothing, and a database
that is away is ``StoreUnavailable``, never a driver's error."""

from __future__ import annotations

from datetime import timedelta

import pytest

from leadrelay.shared.events import Envelope, LeadActivity
from leadrelay.shared.ports import Store, StoreUnavailable, UnitOfWork
from tests.conftest import policy_text
from tests.contract.conftest import StoreHarness
from tests.contract.store.values import AT, at, new_lead


class Boom(Exception):
    pass


def activity(lead_id: str) -> Envelope:
    event = LeadActivity(lead_id=lead_id, actor="rep-a", action="accepted", at=AT)
    return Envelope.wrap(event, source="test", subject=lead_id, key="k", correlation_id="c", time=AT)


async def write_one_of_everything(uow: UnitOfWork, lead_id: str) -> None:
    await uow.leads.insert(**new_lead(lead_id))
    await uow.leads.add_history(lead_id, "received", {})
    await uow.leads.add_decision(lead_id, AT, 1, "r", "s", "rep-a", None, {})
    await uow.people.save(f"p-{lead_id}", {}, None, 1, AT, AT, [f"key-{lead_id}"], new=True)
    await uow.outbox.emit(activity(lead_id))
    await uow.inbox.mark_processed("scoring", f"event-{lead_id}")
    await uow.inbox.dead_letter("scoring", "t", None, b"x", "bad")
    await uow.clocks.add(timer_id=f"{lead_id}:0:first_touch:remind", lead_id=lead_id, clock="first_touch",
                         step="remind", owner="rep-a", due_at=at(5))
    await uow.deliveries.add(dedup_key=f"d-{lead_id}", lead_id=lead_id, recipient="rep-a", kind="assigned",
                             platform="slack", message={}, received_at=None)
    await uow.roster.adjust_load("rep-a", today=AT.date(), open_delta=1, assigned=1)
    await uow.roster.set_cursor("rr", 1)
    await uow.roster.add_credit("rep-a", 1, "why", None, None)
    await uow.roster.add_claim("rep-a", lead_id, AT)
    await uow.policies.store(policy_text(None))
    await uow.sources.add(f"src-{lead_id}", "api", f"hash-{lead_id}", "lr_src", {})
    await uow.tokens.add(f"tok-{lead_id}", "lr_tok", "admin", None)
    await uow.idempotency.remember("web", f"idem-{lead_id}", "body", lead_id)


async def test_what_a_transaction_writes_is_seen_once_it_commits(store: Store):
    async with store.transaction() as uow:
        await write_one_of_everything(uow, "lead-1")
    async with store.read() as uow:
        assert (await uow.leads.get("lead-1")) is not None
        assert len(await uow.leads.history("lead-1")) == 1 and await uow.leads.count_decisions("lead-1") == 1
        assert await uow.people.ids_for_keys(["key-lead-1"]) == ["p-lead-1"]
        assert len(await uow.clocks.for_lead("lead-1")) == 1 and len(await uow.deliveries.for_lead("lead-1")) == 1
        assert (await uow.roster.loads())["rep-a"].open_leads == 1
        assert await uow.roster.cursors() == {"rr": 1} and await uow.roster.credits() == {"rep-a": 1}
        assert await uow.roster.claims_since("rep-a", AT) == [AT]
        assert (await uow.policies.document()) is not None and len(await uow.inbox.dead_letters()) == 1
        assert await uow.sources.by_name("src-lead-1") is not None and await uow.tokens.by_hash("tok-lead-1")
        assert await uow.idempotency.get("web", "idem-lead-1") is not None


async def test_a_transaction_that_raises_stores_nothing_and_the_error_comes_through(store_harness: StoreHarness):
    store = store_harness.store
    with pytest.raises(Boom):
        async with store.transaction() as uow:
            await write_one_of_everything(uow, "lead-1")
            raise Boom
    async with store.transaction() as uow:
        assert await uow.leads.get("lead-1") is None and await uow.leads.history("lead-1") == []
        assert await uow.leads.decisions("lead-1") == [] and await uow.people.ids_for_keys(["key-lead-1"]) == []
        assert await uow.people.get("p-lead-1") is None
        assert await uow.clocks.for_lead("lead-1") == [] and await uow.deliveries.for_lead("lead-1") == []
        assert await uow.roster.loads() == {} and await uow.roster.cursors() == {} and await uow.roster.credits() == {}
        assert await uow.roster.claims_since("rep-a", AT - timedelta(days=1)) == []
        assert await uow.policies.current() is None and await uow.inbox.dead_letters(include_redriven=True) == []
        assert await uow.sources.list() == [] and await uow.tokens.list() == []
        assert await uow.idempotency.get("web", "idem-lead-1") is None
        # The insert-ignore writes left nothing behind either: they succeed as first writes again.
        assert await uow.inbox.mark_processed("scoring", "event-lead-1") is True
        assert await uow.idempotency.remember("web", "idem-lead-1", "body", "lead-1") is True
    assert await store_harness.emitted() == []


async def test_a_failed_transaction_leaves_what_was_committed_before_it(store: Store):
    async with store.transaction() as uow:
        await uow.leads.insert(**new_lead("lead-1", state="qualified"))
    with pytest.raises(Boom):
        async with store.transaction() as uow:
            await uow.leads.update("lead-1", state="assigned", owner="rep-a")
            await uow.leads.insert(**new_lead("lead-2"))
            raise Boom
    async with store.read() as uow:
        lead = await uow.leads.get("lead-1")
        assert lead is not None and (lead.state, lead.owner) == ("qualified", None)
        assert await uow.leads.get("lead-2") is None


async def test_after_commit_callbacks_run_in_order_once_the_transaction_has_committed(store: Store):
    ran: list[str] = []
    async with store.transaction() as uow:
        uow.after_commit(lambda: ran.append("first"))
        await uow.leads.insert(**new_lead("lead-1"))
        uow.after_commit(lambda: ran.append("second"))
        assert ran == []
    assert ran == ["first", "second"]


async def test_after_commit_callbacks_never_run_when_the_transaction_rolls_back(store: Store):
    ran: list[str] = []
    with pytest.raises(Boom):
        async with store.transaction() as uow:
            uow.after_commit(lambda: ran.append("committed"))
            await uow.leads.insert(**new_lead("lead-1"))
            raise Boom
    assert ran == []


async def test_a_write_the_database_refuses_rolls_the_whole_transaction_back(store_harness: StoreHarness):
    store = store_harness.store
    async with store.transaction() as uow:
        await uow.leads.insert(**new_lead("lead-1"))
    ran: list[str] = []
    with pytest.raises(store_harness.refused):
        async with store.transaction() as uow:
            uow.after_commit(lambda: ran.append("committed"))
            await uow.leads.insert(**new_lead("lead-2"))
            await uow.leads.insert(**new_lead("lead-1"))  # taken
    async with store.read() as uow:
        assert await uow.leads.get("lead-2") is None
    assert ran == []


async def test_a_transaction_reads_its_own_writes_and_nobody_else_does_until_it_commits(store: Store):
    async with store.transaction() as writer:
        await writer.leads.insert(**new_lead("lead-1"))
        assert (await writer.leads.get("lead-1")) is not None
        async with store.read() as reader:
            assert await reader.leads.get("lead-1") is None
    async with store.read() as reader:
        assert (await reader.leads.get("lead-1")) is not None


async def test_nothing_written_in_a_read_unit_of_work_is_kept(store: Store):
    async with store.read() as uow:
        await uow.leads.insert(**new_lead("lead-1"))
    async with store.read() as uow:
        assert await uow.leads.get("lead-1") is None


async def test_a_store_whose_database_is_away_raises_store_unavailable(store_harness: StoreHarness):
    away = await store_harness.unavailable_store()
    with pytest.raises(StoreUnavailable):
        async with away.transaction() as uow:
            await uow.leads.get("lead-1")
    with pytest.raises(StoreUnavailable):
        async with away.read() as uow:
            await uow.leads.get("lead-1")
