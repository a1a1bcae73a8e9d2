"""``LeadRepository`` (``shared/ports/leads.py``): leads, their history and routing decisions."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from leadrelay.shared.ports import LeadRecord, Store
from tests.contract.conftest import STORE_EPOCH, StoreHarness
from tests.contract.store.values import AT, assert_aware_utc, at, new_lead


async def test_a_stored_lead_comes_back_as_a_typed_record_stamped_by_the_store_clock(store: Store):
    async with store.transaction() as uow:
        await uow.leads.insert(**new_lead("lead-1", reasons=[{"rule": "senior-title", "points": 40}]))
    async with store.read() as uow:
        lead = await uow.leads.get("lead-1")
    assert lead == LeadRecord(
        lead_id="lead-1", person_id="person-lead-1", source="web", identity_key="key-lead-1",
        correlation_id="corr-lead-1", received_at=AT,
        contact={"name": "Li Wei", "company": "Big Factory", "employees": 2000, "attributes": {"tags": ["a"]}},
        score=35, grade="warm", reasons=[{"rule": "senior-title", "points": 40}], duplicate_of=None,
        state="qualified", owner=None, team=None, queue=None, policy_version=1, assigned_at=None, accepted_at=None,
        contacted_at=None, closed_at=None, previous_owner=None, recycled_at=None, updated_at=STORE_EPOCH)
    assert_aware_utc(lead)


async def test_an_unknown_lead_is_none(store: Store):
    async with store.read() as uow:
        assert await uow.leads.get("nobody") is None
        assert await uow.leads.by_ids(["nobody"]) == {}


async def test_a_lead_id_is_stored_once(store_harness: StoreHarness):
    async with store_harness.store.transaction() as uow:
        await uow.leads.insert(**new_lead("lead-1"))
    with pytest.raises(store_harness.refused):
        async with store_harness.store.transaction() as uow:
            await uow.leads.insert(**new_lead("lead-1", source="csv"))


async def test_an_update_changes_only_the_fields_given_and_restamps_the_lead(store_harness: StoreHarness):
    store = store_harness.store
    async with store.transaction() as uow:
        await uow.leads.insert(**new_lead("lead-1", owner="rep-a", queue="q"))
    store_harness.clock.advance(minutes=3)
    async with store.transaction() as uow:
        await uow.leads.update("lead-1", state="assigned", owner="rep-b", queue=None, assigned_at=at(1),
                               previous_owner="rep-a")
    async with store.read() as uow:
        lead = await uow.leads.get("lead-1")
    assert lead is not None
    assert (lead.state, lead.owner, lead.queue, lead.previous_owner) == ("assigned", "rep-b", None, "rep-a")
    assert lead.assigned_at == at(1) and lead.updated_at == STORE_EPOCH + timedelta(minutes=3)
    assert (lead.score, lead.grade, lead.source, lead.contact["name"]) == (35, "warm", "web", "Li Wei")
    assert_aware_utc(lead)


async def test_updating_an_unknown_lead_changes_nothing(store: Store):
    async with store.transaction() as uow:
        await uow.leads.update("nobody", state="assigned")
        assert await uow.leads.get("nobody") is None


async def test_by_ids_gives_the_leads_found_keyed_by_id(store: Store):
    async with store.transaction() as uow:
        for lead_id in ("lead-b", "lead-a", "lead-c"):
            await uow.leads.insert(**new_lead(lead_id))
        found = await uow.leads.by_ids(["lead-c", "nobody", "lead-a", "lead-c"], lock=True)
        assert sorted(found) == ["lead-a", "lead-c"]
        assert all(found[lead_id].lead_id == lead_id for lead_id in found)
        assert await uow.leads.by_ids([]) == {}
        assert await uow.leads.get("lead-b", lock=True) == await uow.leads.get("lead-b")


async def test_where_lists_the_newest_leads_first_filtered_and_limited(store: Store):
    leads = [
        new_lead("l1", received_at=at(1), owner="rep-a", state="assigned", source="web"),
        new_lead("l2", received_at=at(4), owner="rep-b", state="assigned", source="csv"),
        new_lead("l3", received_at=at(2), owner=None, state="queued", queue="unassigned", source="web"),
        new_lead("l4", received_at=at(3), owner="rep-a", state="accepted", source="web"),
    ]
    async with store.transaction() as uow:
        for lead in leads:
            await uow.leads.insert(**lead)
    async with store.read() as uow:
        async def ids(**filters: Any) -> list[str]:
            return [lead.lead_id for lead in await uow.leads.where(**filters)]

        assert await ids() == ["l2", "l4", "l3", "l1"]
        assert await ids(owner="rep-a") == ["l4", "l1"]
        assert await ids(owners=["rep-a", "rep-b"]) == ["l2", "l4", "l1"]
        assert await ids(owners=[]) == []
        assert await ids(source="web") == ["l4", "l3", "l1"]
        assert await ids(state="assigned") == ["l2", "l1"]
        assert await ids(queue="unassigned") == ["l3"]
        assert await ids(owner="rep-a", state="assigned", source="web") == ["l1"]
        assert await ids(limit=2) == ["l2", "l4"]
        assert await ids(owner="nobody") == []


async def test_where_narrows_to_stored_teams_and_none_stands_for_no_team(store: Store):
    leads = [
        new_lead("l1", received_at=at(1), state="pool", team="north"),
        new_lead("l2", received_at=at(2), state="pool", team="south"),
        new_lead("l3", received_at=at(3), state="pool", team=None),
        new_lead("l4", received_at=at(4), state="queued", team="north"),
    ]
    async with store.transaction() as uow:
        for lead in leads:
            await uow.leads.insert(**lead)
    async with store.read() as uow:
        async def ids(**filters: Any) -> list[str]:
            return [lead.lead_id for lead in await uow.leads.where(**filters)]

        assert await ids(teams=["north"]) == ["l4", "l1"]
        assert await ids(teams=["north", None]) == ["l4", "l3", "l1"]
        assert await ids(teams=[None]) == ["l3"]
        assert await ids(teams=[]) == []
        assert await ids(teams=["north", "south"], state="pool") == ["l2", "l1"]
        assert await ids(teams=["north", None], limit=2) == ["l4", "l3"]


async def test_history_is_kept_oldest_first_and_stamped_by_the_store_clock_when_not_dated(store: Store):
    async with store.transaction() as uow:
        await uow.leads.add_history("lead-1", "received", {"source": "web"}, at=at(-5))
        await uow.leads.add_history("other", "received", {}, at=at(-4))
        await uow.leads.add_history_many([
            {"lead_id": "lead-1", "at": at(-3), "kind": "scored", "detail": {"score": 35, "reasons": [["a", 1]]}},
            {"lead_id": "lead-1", "at": at(-2), "kind": "assigned", "detail": {"owner": "rep-a"}},
        ])
        await uow.leads.add_history_many([])
        await uow.leads.add_history("lead-1", "accepted", {"by": "rep-a"})
    async with store.read() as uow:
        history = await uow.leads.history("lead-1")
    assert [(h.kind, h.at, h.detail) for h in history] == [
        ("received", at(-5), {"source": "web"}), ("scored", at(-3), {"score": 35, "reasons": [["a", 1]]}),
        ("assigned", at(-2), {"owner": "rep-a"}), ("accepted", STORE_EPOCH, {"by": "rep-a"})]
    assert all(h.lead_id == "lead-1" for h in history)
    assert [h.id for h in history] == sorted({h.id for h in history})
    for entry in history:
        assert_aware_utc(entry)


async def test_decisions_are_kept_oldest_first_with_their_explanation(store: Store):
    explanation = {"policy_version": 2, "summary": "least loaded", "candidates": [{"rep": "rep-a", "kept": True}]}
    async with store.transaction() as uow:
        await uow.leads.add_decision("lead-1", at(1), 2, "hot-enterprise", "least_loaded", "rep-a", None, explanation)
        await uow.leads.add_decision("lead-2", at(1), 2, None, "fallback", None, "unassigned", {})
        await uow.leads.add_decision("lead-1", at(2), 3, "reassigned", "reassigned", "rep-b", None, {"by": "mgr-a"})
    async with store.read() as uow:
        decisions = await uow.leads.decisions("lead-1")
        assert await uow.leads.count_decisions("lead-1") == 2 and await uow.leads.count_decisions("nobody") == 0
        assert await uow.leads.decisions("nobody") == []
    assert [(d.decided_at, d.policy_version, d.rule, d.strategy, d.owner, d.queue, d.explanation)
            for d in decisions] == [
        (at(1), 2, "hot-enterprise", "least_loaded", "rep-a", None, explanation),
        (at(2), 3, "reassigned", "reassigned", "rep-b", None, {"by": "mgr-a"})]
    assert decisions[0].id < decisions[1].id and all(d.lead_id == "lead-1" for d in decisions)
    for decision in decisions:
        assert_aware_utc(decision)


async def test_received_between_lists_a_time_window_oldest_first_and_limited(store: Store):
    async with store.transaction() as uow:
        for lead_id, minutes in (("lead-c", 5), ("lead-a", -10), ("lead-b", 5), ("lead-d", 30), ("lead-e", 0)):
            await uow.leads.insert(**new_lead(lead_id, received_at=at(minutes)))
    async with store.read() as uow:
        window = await uow.leads.received_between(at(0), at(30), limit=10)
        first_two = await uow.leads.received_between(at(-60), at(60), limit=2)
        empty = await uow.leads.received_between(at(31), at(60), limit=10)
    # [start, end): lead-a is before it, lead-d at its end; equal times go by id
    assert [lead.lead_id for lead in window] == ["lead-e", "lead-b", "lead-c"]
    assert [lead.lead_id for lead in first_two] == ["lead-a", "lead-e"]
    assert empty == []
    assert all(isinstance(lead, LeadRecord) for lead in window)
    for lead in window:
        assert_aware_utc(lead)


async def test_of_persons_lists_those_peoples_leads_newest_first(store: Store):
    async with store.transaction() as uow:
        await uow.leads.insert(**new_lead("lead-1", person_id="p-1", received_at=at(0)))
        await uow.leads.insert(**new_lead("lead-2", person_id="p-1", received_at=at(9)))
        await uow.leads.insert(**new_lead("lead-3", person_id="p-2", received_at=at(5)))
        await uow.leads.insert(**new_lead("lead-4", person_id="p-3", received_at=at(7)))
    async with store.read() as uow:
        assert [lead.lead_id for lead in await uow.leads.of_persons(["p-1", "p-2"])] == ["lead-2", "lead-3", "lead-1"]
        assert [lead.lead_id for lead in await uow.leads.of_persons(["p-1"], limit=1)] == ["lead-2"]
        assert await uow.leads.of_persons([]) == []
        assert await uow.leads.of_persons(["nobody"]) == []
