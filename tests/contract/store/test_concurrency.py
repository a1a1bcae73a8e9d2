"""Units of work that overlap. What every backend promises (a held roster, lead or clock step is
waited for; two schedulers never fire one step) runs on all three; how each gets there (SQLite
and the fake take writers one at a time, PostgreSQL locks rows and skips locked ones) runs only
on the backends it describes."""

from __future__ import annotations

import asyncio

import pytest

from leadrelay.shared.adapters.sql import schema
from leadrelay.shared.ports import PlannedStep, Store, StoreUnavailable
from tests.contract.conftest import STORE_EPOCH, SqlStoreHarness, StoreHarness
from tests.contract.store.values import new_lead

# How long a test lets a blocked unit of work try before it checks that it is still waiting.
BLOCKED_FOR_S = 0.2
# Bounds every wait, so a deadlock fails the test instead of hanging it.
TIMEOUT_S = 10.0
NOW = STORE_EPOCH


def due_step(n: int, lead_id: str = "lead-1") -> PlannedStep:
    return {"timer_id": f"{lead_id}:0:first_touch:{n}", "lead_id": lead_id, "clock": "first_touch", "step": f"s{n}",
            "owner": "rep-a", "due_at": NOW}


async def test_two_schedulers_never_claim_the_same_step(store: Store):
    async with store.transaction() as uow:
        await uow.clocks.add_many([due_step(n) for n in range(6)])

    async def scheduler() -> list[str]:
        async with store.transaction() as uow:
            claimed = await uow.clocks.claim_due(NOW, 3)
            await asyncio.sleep(0.05)  # the other scheduler runs meanwhile
            await uow.clocks.mark([c.timer_id for c in claimed], "fired", NOW)
            return [c.timer_id for c in claimed]

    first, second = await asyncio.wait_for(asyncio.gather(scheduler(), scheduler()), TIMEOUT_S)
    assert not set(first) & set(second)
    assert sorted(first + second) == sorted(due_step(n)["timer_id"] for n in range(6))


async def test_decisions_over_one_pool_take_turns_on_its_rows(store: Store):
    async def decide(order: list[str]) -> None:
        async with store.transaction() as uow:
            await uow.roster.lock(order, ["rr"])
            position = (await uow.roster.cursors(["rr"]))["rr"]
            await asyncio.sleep(0.05)
            await uow.roster.set_cursor("rr", position + 1)

    orders = [["rep-a", "rep-b"], ["rep-b", "rep-a"], ["rep-b", "rep-a"]]  # same rows, given in any order
    await asyncio.wait_for(asyncio.gather(*(decide(order) for order in orders)), TIMEOUT_S)
    async with store.read() as uow:
        assert await uow.roster.cursors() == {"rr": 3}  # no decision read a position another was moving


async def test_a_locked_lead_is_held_until_its_transaction_ends(store: Store):
    async with store.transaction() as uow:
        await uow.leads.insert(**new_lead("lead-1", policy_version=1))

    async def bump() -> None:
        async with store.transaction() as uow:
            lead = await uow.leads.get("lead-1", lock=True)
            assert lead is not None and lead.policy_version is not None
            await asyncio.sleep(0.05)  # the other one tries meanwhile
            await uow.leads.update("lead-1", policy_version=lead.policy_version + 1)

    await asyncio.wait_for(asyncio.gather(bump(), bump()), TIMEOUT_S)
    async with store.read() as uow:
        lead = await uow.leads.get("lead-1")
    assert lead is not None and lead.policy_version == 3  # neither update was lost


async def test_cancelling_waits_for_a_step_a_scheduler_holds_and_leaves_it_fired(store: Store):
    async with store.transaction() as uow:
        await uow.clocks.add_many([due_step(0), {**due_step(1), "due_at": NOW.replace(year=2040)}])
    held = asyncio.Event()
    release = asyncio.Event()

    async def scheduler() -> None:
        async with store.transaction() as uow:
            assert [c.timer_id for c in await uow.clocks.claim_due(NOW, 10)] == [due_step(0)["timer_id"]]
            held.set()
            await release.wait()
            await uow.clocks.mark([due_step(0)["timer_id"]], "fired", NOW)

    async def cancel() -> int:
        await held.wait()
        async with store.transaction() as uow:
            return await uow.clocks.cancel("lead-1")

    scheduling, cancelling = asyncio.create_task(scheduler()), asyncio.create_task(cancel())
    await held.wait()
    await asyncio.sleep(BLOCKED_FOR_S)
    assert not cancelling.done()  # waiting for the scheduler's transaction
    release.set()
    await asyncio.wait_for(scheduling, TIMEOUT_S)
    assert await asyncio.wait_for(cancelling, TIMEOUT_S) == 1  # only the step nobody held
    async with store.read() as uow:
        assert [c.state for c in await uow.clocks.for_lead("lead-1")] == ["fired", "cancelled"]


# -- how: one writer at a time (SQLite, and the fake) ----------------------------------------------


@pytest.mark.parametrize("store_backend", ["memory", "sqlite"], indirect=True)
async def test_a_second_writer_starts_only_when_the_first_has_committed(store: Store):
    order: list[str] = []
    first_open = asyncio.Event()
    release = asyncio.Event()

    async def first() -> None:
        async with store.transaction() as uow:
            first_open.set()
            await uow.leads.insert(**new_lead("lead-1"))
            await release.wait()
            order.append("first commits")

    async def second() -> bool:
        await first_open.wait()
        async with store.transaction() as uow:
            order.append("second begins")
            return await uow.leads.get("lead-1") is not None

    one, two = asyncio.create_task(first()), asyncio.create_task(second())
    await first_open.wait()
    await asyncio.sleep(BLOCKED_FOR_S)
    assert order == [] and not two.done()
    release.set()
    await asyncio.wait_for(one, TIMEOUT_S)
    assert await asyncio.wait_for(two, TIMEOUT_S) is True
    assert order == ["first commits", "second begins"]


@pytest.mark.parametrize("store_backend", ["sqlite"], indirect=True)
async def test_a_writer_in_another_process_waits_for_the_database_lock(store_harness: SqlStoreHarness):
    other = store_harness.another_store()
    release = asyncio.Event()
    first_open = asyncio.Event()

    async def first() -> None:
        async with store_harness.store.transaction() as uow:
            await uow.leads.insert(**new_lead("lead-1"))
            first_open.set()
            await release.wait()

    async def second() -> bool:
        async with other.transaction() as uow:  # BEGIN IMMEDIATE waits on SQLite's busy timeout
            return await uow.leads.get("lead-1") is not None

    one = asyncio.create_task(first())
    await first_open.wait()
    two = asyncio.create_task(second())
    await asyncio.sleep(BLOCKED_FOR_S)
    assert not two.done()
    release.set()
    await asyncio.wait_for(one, TIMEOUT_S)
    assert await asyncio.wait_for(two, TIMEOUT_S) is True


# -- how: row locks, skipped by other replicas (PostgreSQL) ----------------------------------------


@pytest.mark.parametrize("store_backend", ["postgresql"], indirect=True)
async def test_writers_run_side_by_side_until_they_want_the_same_row(store_harness: StoreHarness):
    store = store_harness.store
    release = asyncio.Event()

    async def first() -> None:
        async with store.transaction() as uow:
            await uow.leads.insert(**new_lead("lead-1"))
            await release.wait()

    one = asyncio.create_task(first())
    async with store.transaction() as uow:  # does not wait for the first transaction
        await uow.leads.insert(**new_lead("lead-2"))
    assert not one.done()
    release.set()
    await asyncio.wait_for(one, TIMEOUT_S)


@pytest.mark.parametrize("store_backend", ["postgresql"], indirect=True)
async def test_a_replica_skips_the_steps_another_one_holds_instead_of_waiting(store: Store):
    async with store.transaction() as uow:
        await uow.clocks.add_many([due_step(n) for n in range(4)])
    held = asyncio.Event()
    release = asyncio.Event()

    async def holder() -> list[str]:
        async with store.transaction() as uow:
            claimed = [c.timer_id for c in await uow.clocks.claim_due(NOW, 2)]
            held.set()
            await release.wait()
            await uow.clocks.mark(claimed, "fired", NOW)
            return claimed

    holding = asyncio.create_task(holder())
    await held.wait()
    async with store.transaction() as uow:
        others = [c.timer_id for c in await asyncio.wait_for(uow.clocks.claim_due(NOW, 10), TIMEOUT_S)]
        assert await uow.clocks.any_due(NOW)  # held steps are still due: nobody has fired them yet
    assert not holding.done()
    release.set()
    mine = await asyncio.wait_for(holding, TIMEOUT_S)
    assert mine == [due_step(0)["timer_id"], due_step(1)["timer_id"]]
    assert others == [due_step(2)["timer_id"], due_step(3)["timer_id"]]


@pytest.mark.parametrize("store_backend", ["postgresql"], indirect=True)
async def test_a_sender_skips_the_deliveries_another_one_holds(store: Store):
    async with store.transaction() as uow:
        for n in range(4):
            await uow.deliveries.add(dedup_key=f"e:{n}", lead_id="lead-1", recipient="rep-a", kind="assigned",
                                     platform="slack", message={}, received_at=None)
    held = asyncio.Event()
    release = asyncio.Event()

    async def holder() -> list[str]:
        async with store.transaction() as uow:
            taken = [d.dedup_key for d in await uow.deliveries.due(NOW, 3)]
            held.set()
            await release.wait()
            return taken

    holding = asyncio.create_task(holder())
    await held.wait()
    async with store.transaction() as uow:
        others = [d.dedup_key for d in await asyncio.wait_for(uow.deliveries.due(NOW, 10), TIMEOUT_S)]
    release.set()
    assert await asyncio.wait_for(holding, TIMEOUT_S) == ["e:0", "e:1", "e:2"]
    assert others == ["e:3"]


# -- how: per-pool row locks (PostgreSQL) ----------------------------------------------------------


async def waiting_on_a_lock(store: Store) -> int:
    """How many other sessions of this database wait on a row lock right now (pg_stat_activity)."""
    async with store.read() as uow:
        return int((await uow.tx.conn.exec_driver_sql(  # type: ignore[attr-defined]
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()")).scalar_one())


@pytest.mark.parametrize("store_backend", ["postgresql"], indirect=True)
async def test_decisions_over_disjoint_pools_do_not_wait_for_each_other(store_harness: SqlStoreHarness):
    other = store_harness.another_store()  # another router replica
    held = asyncio.Event()
    release = asyncio.Event()

    async def shanghai() -> None:
        async with store_harness.store.transaction() as uow:
            await uow.roster.lock(["rep-sh-1", "rep-sh-2"], ["shanghai"])
            held.set()
            await release.wait()  # holds its pool until the other team's decision has committed
            await uow.roster.set_cursor("shanghai", 1)

    holding = asyncio.create_task(shanghai())
    await asyncio.wait_for(held.wait(), TIMEOUT_S)
    async with other.transaction() as uow:  # São Paulo's decision: other reps, other cursor
        await uow.roster.lock(["rep-sp-1", "rep-sp-2"], ["sao-paulo"])
        await uow.roster.adjust_load("rep-sp-1", today=NOW.date(), open_delta=1, assigned=1, at=NOW)
        await uow.roster.set_cursor("sao-paulo", 1)
    assert not holding.done()  # committed while Shanghai still held its rows: it did not wait for them
    release.set()
    await asyncio.wait_for(holding, TIMEOUT_S)
    async with other.read() as uow:
        assert await uow.roster.cursors() == {"shanghai": 1, "sao-paulo": 1}


@pytest.mark.parametrize("store_backend", ["postgresql"], indirect=True)
async def test_a_decision_sharing_one_rep_with_a_held_pool_waits_for_it(store_harness: SqlStoreHarness):
    other = store_harness.another_store()
    held = asyncio.Event()
    release = asyncio.Event()
    order: list[str] = []

    async def first() -> None:
        async with store_harness.store.transaction() as uow:
            await uow.roster.lock(["rep-a", "rep-b"], ["east"])
            held.set()
            await release.wait()
            await uow.roster.adjust_load("rep-b", today=NOW.date(), open_delta=1, assigned=1, at=NOW)
            order.append("first commits")

    async def second() -> int:
        async with other.transaction() as uow:
            await uow.roster.lock(["rep-c", "rep-b"], ["west"])  # rep-b is in both pools
            order.append("second holds rep-b")
            return (await uow.roster.loads(["rep-b"]))["rep-b"].open_leads

    holding = asyncio.create_task(first())
    await asyncio.wait_for(held.wait(), TIMEOUT_S)
    waiting = asyncio.create_task(second())
    while await waiting_on_a_lock(store_harness.store) == 0:  # PostgreSQL says the second one is blocked
        assert not waiting.done()
        await asyncio.sleep(0.01)
    assert order == []
    release.set()
    await asyncio.wait_for(holding, TIMEOUT_S)
    assert await asyncio.wait_for(waiting, TIMEOUT_S) == 1  # it read rep-b after the first one's commit
    assert order == ["first commits", "second holds rep-b"]


@pytest.mark.parametrize("store_backend", ["postgresql"], indirect=True)
async def test_replicas_locking_overlapping_pools_never_deadlock_nor_lose_an_update(store_harness: SqlStoreHarness):
    """Pools given in scrambled orders, rows missing at first (made by the locks themselves):
    every transaction commits, and each rep's counter counts exactly the pools that held it."""
    replicas = [store_harness.store, *(store_harness.another_store() for _ in range(3))]
    reps = [f"rep-{n:02d}" for n in range(8)]
    pools = [[reps[(start + step * 3) % len(reps)] for step in range(4)] for start in range(24)]

    async def decide(replica: Store, pool: list[str]) -> None:
        async with replica.transaction() as uow:
            counters = [f"n:{rep}" for rep in reversed(pool)]
            await uow.roster.lock(list(reversed(pool)), counters)
            positions = await uow.roster.cursors(counters)
            await asyncio.sleep(0)  # let the other replicas' statements in between
            for key in counters:
                await uow.roster.set_cursor(key, positions[key] + 1)

    await asyncio.wait_for(asyncio.gather(*(decide(replicas[n % len(replicas)], pool)
                                            for n, pool in enumerate(pools))), TIMEOUT_S * 3)
    async with store_harness.store.read() as uow:
        counted = await uow.roster.cursors()
        assert set(await uow.roster.loads()) == {rep for pool in pools for rep in pool}
    assert counted == {f"n:{rep}": sum(rep in pool for pool in pools) for rep in reps}


@pytest.mark.parametrize("store_backend", ["sqlite", "postgresql"], indirect=True)
async def test_fairness_rows_deleted_under_a_running_store_fail_one_transaction_then_come_back(
        store_harness: SqlStoreHarness):
    """The store remembers which rows exist, to lock them in one statement. A row deleted behind
    its back (a truncated table) must not be made again out of the lock order: the transaction
    fails as a retryable outage and the retry makes it first, in order."""
    store = store_harness.sql
    async with store.transaction() as uow:
        await uow.roster.lock(["rep-a", "rep-b"], ["rr"])
    async with store.engine.begin() as conn:
        await conn.execute(schema.rep_loads.delete().where(schema.rep_loads.c.rep_id == "rep-b"))
    with pytest.raises(StoreUnavailable):
        async with store.transaction() as uow:
            await uow.roster.lock(["rep-a", "rep-b"], ["rr"])
    async with store.transaction() as uow:  # the retry
        await uow.roster.lock(["rep-a", "rep-b"], ["rr"])
    async with store.read() as uow:
        assert set(await uow.roster.loads()) == {"rep-a", "rep-b"}
