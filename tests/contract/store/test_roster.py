"""``RosterRepository`` (``shared/ports/roster.py``): rep loads, cursors, the credit ledger, claims."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from leadrelay.shared.ports import LedgerEntry, RepLoadRecord, Store
from tests.contract.conftest import STORE_EPOCH, StoreHarness
from tests.contract.store.values import AT, assert_aware_utc, at

MONDAY, TUESDAY = date(2031, 3, 3), date(2031, 3, 4)


async def test_an_empty_roster(store: Store):
    async with store.read() as uow:
        assert await uow.roster.loads() == {} and await uow.roster.cursors() == {}
        assert await uow.roster.credits() == {} and await uow.roster.ledger("rep-a") == []
        assert await uow.roster.claims_since("rep-a", AT - timedelta(days=1)) == []


async def test_a_reps_first_load_starts_their_counters(store: Store):
    async with store.transaction() as uow:
        await uow.roster.adjust_load("rep-a", today=MONDAY, open_delta=1, assigned=1, at=AT)
        await uow.roster.adjust_load("rep-b", today=MONDAY, converted=1, lost=2)
    async with store.read() as uow:
        loads = await uow.roster.loads()
    assert loads == {
        "rep-a": RepLoadRecord("rep-a", open_leads=1, day=MONDAY, assigned_today=1, assigned_total=1,
                               converted_total=0, lost_total=0, last_assigned_at=AT),
        "rep-b": RepLoadRecord("rep-b", open_leads=0, day=MONDAY, assigned_today=0, assigned_total=0,
                               converted_total=1, lost_total=2, last_assigned_at=None)}
    assert_aware_utc(loads["rep-a"])


async def test_loads_add_up_within_a_day_and_the_daily_count_restarts_on_a_new_day(store: Store):
    async with store.transaction() as uow:
        await uow.roster.adjust_load("rep-a", today=MONDAY, open_delta=1, assigned=1, at=at(1))
        await uow.roster.adjust_load("rep-a", today=MONDAY, open_delta=1, assigned=1, at=at(2))
        await uow.roster.adjust_load("rep-a", today=MONDAY, open_delta=-1, converted=1)
        monday = (await uow.roster.loads())["rep-a"]
        await uow.roster.adjust_load("rep-a", today=TUESDAY, open_delta=1, assigned=1, at=at(3))
        tuesday = (await uow.roster.loads())["rep-a"]
    assert (monday.open_leads, monday.day, monday.assigned_today, monday.assigned_total) == (1, MONDAY, 2, 2)
    assert (monday.converted_total, monday.last_assigned_at) == (1, at(2))  # not assigning keeps the last time
    assert (tuesday.open_leads, tuesday.day, tuesday.assigned_today, tuesday.assigned_total) == (2, TUESDAY, 1, 3)
    assert (tuesday.converted_total, tuesday.lost_total, tuesday.last_assigned_at) == (1, 0, at(3))


async def test_open_leads_never_go_below_zero(store: Store):
    async with store.transaction() as uow:
        await uow.roster.adjust_load("rep-a", today=MONDAY, open_delta=-1, lost=1)
        assert (await uow.roster.loads())["rep-a"].open_leads == 0
        await uow.roster.adjust_load("rep-a", today=MONDAY, open_delta=2)
        await uow.roster.adjust_load("rep-a", today=MONDAY, open_delta=-5)
        assert (await uow.roster.loads())["rep-a"].open_leads == 0
        await uow.roster.adjust_load("rep-a", today=MONDAY, open_delta=1)
        assert (await uow.roster.loads())["rep-a"].open_leads == 1


async def test_an_assignment_without_a_time_is_stamped_by_the_store_clock(store_harness: StoreHarness):
    async with store_harness.store.transaction() as uow:
        await uow.roster.adjust_load("rep-a", today=MONDAY, assigned=1)
        store_harness.clock.advance(minutes=1)
        await uow.roster.adjust_load("rep-a", today=MONDAY, assigned=1)
        assert (await uow.roster.loads())["rep-a"].last_assigned_at == STORE_EPOCH + timedelta(minutes=1)


async def test_cursors_are_set_and_replaced(store: Store):
    async with store.transaction() as uow:
        await uow.roster.set_cursor("rule:everyone-else", 1)
        await uow.roster.set_cursor("rule:hot", 7)
        await uow.roster.set_cursor("rule:everyone-else", 2)
    async with store.read() as uow:
        assert await uow.roster.cursors() == {"rule:everyone-else": 2, "rule:hot": 7}
        assert await uow.roster.cursors(["rule:hot", "rule:cold"]) == {"rule:hot": 7}


async def test_locking_makes_missing_rows_idle_and_keeps_existing_ones(store: Store):
    async with store.transaction() as uow:
        await uow.roster.adjust_load("rep-b", today=MONDAY, open_delta=3)
        await uow.roster.set_cursor("rr", 5)
    async with store.transaction() as uow:
        await uow.roster.lock(["rep-c", "rep-b", "rep-a"], ["rr", "rr[territory=east]"])  # any order given
        await uow.roster.lock(["rep-a"], ["rr"])  # taking held rows again in the same transaction is harmless
        loads = await uow.roster.loads(["rep-a", "rep-b", "rep-c"])
        assert await uow.roster.cursors(["rr", "rr[territory=east]"]) == {"rr": 5, "rr[territory=east]": 0}
    assert loads["rep-b"].open_leads == 3  # an existing row is left as it was
    assert loads["rep-a"] == RepLoadRecord("rep-a", open_leads=0, day=None, assigned_today=0, assigned_total=0,
                                           converted_total=0, lost_total=0, last_assigned_at=None)
    async with store.read() as uow:  # the rows made by the lock were kept
        assert set(await uow.roster.loads()) == {"rep-a", "rep-b", "rep-c"}
        assert await uow.roster.cursors() == {"rr": 5, "rr[territory=east]": 0}


async def test_a_lock_takes_collections_not_a_bare_rep_id(store: Store):
    async with store.transaction() as uow:
        with pytest.raises(TypeError):
            await uow.roster.lock("rep-a")  # would lock "r", "e", "p", ...


async def test_loads_and_credits_can_be_read_for_some_reps_only(store: Store):
    async with store.transaction() as uow:
        for rep in ("rep-a", "rep-b", "rep-c"):
            await uow.roster.adjust_load(rep, today=MONDAY, open_delta=1)
            await uow.roster.add_credit(rep, 2, "no-show", None, None)
    async with store.read() as uow:
        assert set(await uow.roster.loads(["rep-a", "rep-c", "rep-x"])) == {"rep-a", "rep-c"}
        assert await uow.roster.credits(["rep-b", "rep-x"]) == {"rep-b": 2}
        assert await uow.roster.loads([]) == {} and await uow.roster.credits([]) == {}


async def test_credits_are_the_ledgers_sums_and_the_ledger_is_kept_oldest_first(store_harness: StoreHarness):
    async with store_harness.store.transaction() as uow:
        await uow.roster.add_credit("rep-a", 2, "junk lead", "mgr-a", "lead-1")
        store_harness.clock.advance(minutes=1)
        await uow.roster.add_credit("rep-b", 1, "no-show", None, None)
        await uow.roster.add_credit("rep-a", -1, "used by rule hot", "router", "lead-2")
        await uow.roster.add_credit("rep-c", -1, "taken back", "mgr-a", None)
    async with store_harness.store.read() as uow:
        assert await uow.roster.credits() == {"rep-a": 1, "rep-b": 1, "rep-c": -1}
        ledger = await uow.roster.ledger("rep-a")
    later = STORE_EPOCH + timedelta(minutes=1)
    assert [(e.rep_id, e.delta, e.reason, e.by, e.lead_id, e.at) for e in ledger] == [
        ("rep-a", 2, "junk lead", "mgr-a", "lead-1", STORE_EPOCH),
        ("rep-a", -1, "used by rule hot", "router", "lead-2", later)]
    assert ledger[0].id < ledger[1].id and all(isinstance(e, LedgerEntry) for e in ledger)
    for entry in ledger:
        assert_aware_utc(entry)


async def test_claims_since_lists_a_reps_claims_from_that_moment_on_in_time_order(store: Store):
    async with store.transaction() as uow:
        await uow.roster.add_claim("rep-a", "lead-3", at(30))
        await uow.roster.add_claim("rep-a", "lead-1", at(-30))
        await uow.roster.add_claim("rep-a", "lead-2", AT)
        await uow.roster.add_claim("rep-b", "lead-4", at(10))
    async with store.read() as uow:
        claims = await uow.roster.claims_since("rep-a", AT)
        assert await uow.roster.claims_since("rep-a", at(-60)) == [at(-30), AT, at(30)]
    assert claims == [AT, at(30)]  # the moment itself counts
    assert all(claim.tzinfo is not None and claim.utcoffset() == timedelta(0) for claim in claims)
