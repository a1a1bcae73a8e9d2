"""``ClockRepository`` (``shared/ports/clocks.py``): one row per planned SLA step."""

from __future__ import annotations

from datetime import timedelta

from leadrelay.shared.ports import ClockRecord, PlannedStep, Store
from tests.contract.store.values import AT, assert_aware_utc, at


def step(lead_id: str, clock: str, name: str, due_minutes: float, owner: str | None = "rep-a",
         generation: int = 0) -> PlannedStep:
    return {"timer_id": f"{lead_id}:{generation}:{clock}:{name}", "lead_id": lead_id, "clock": clock, "step": name,
            "owner": owner, "due_at": at(due_minutes)}


async def plan(store: Store, *steps: PlannedStep) -> None:
    async with store.transaction() as uow:
        await uow.clocks.add_many(list(steps))


async def states(store: Store, lead_id: str) -> dict[str, tuple[str, str | None]]:
    async with store.read() as uow:
        return {c.timer_id: (c.state, c.owner) for c in await uow.clocks.for_lead(lead_id)}


async def test_planned_steps_come_back_pending_and_by_due_time(store: Store):
    async with store.transaction() as uow:
        await uow.clocks.add(**step("lead-1", "handoff", "remind", 60))
        await uow.clocks.add_many([step("lead-1", "first_touch", "escalate", 15),
                                   step("lead-1", "first_touch", "remind", 7.5), step("lead-2", "handoff", "remind", 1)])
        await uow.clocks.add_many([])
    async with store.read() as uow:
        clocks = await uow.clocks.for_lead("lead-1")
        assert await uow.clocks.for_lead("nobody") == []
    assert clocks == [
        ClockRecord("lead-1:0:first_touch:remind", "lead-1", "first_touch", "remind", "rep-a", at(7.5), "pending", None),
        ClockRecord("lead-1:0:first_touch:escalate", "lead-1", "first_touch", "escalate", "rep-a", at(15), "pending",
                    None),
        ClockRecord("lead-1:0:handoff:remind", "lead-1", "handoff", "remind", "rep-a", at(60), "pending", None)]
    for clock in clocks:
        assert_aware_utc(clock)


async def test_a_step_planned_again_under_its_timer_id_is_left_as_it_is(store: Store):
    await plan(store, step("lead-1", "handoff", "remind", 60), step("lead-1", "handoff", "escalate", 120))
    async with store.transaction() as uow:
        await uow.clocks.cancel("lead-1", ["handoff"])
        await uow.clocks.add(**step("lead-1", "handoff", "remind", 5, owner="rep-b"))
        await uow.clocks.add_many([step("lead-1", "handoff", "escalate", 6, owner="rep-b"),
                                   step("lead-1", "handoff", "reassign", 180, owner="rep-b")])
    async with store.read() as uow:
        clocks = {c.timer_id: c for c in await uow.clocks.for_lead("lead-1")}
    assert {t: (c.state, c.owner, c.due_at) for t, c in clocks.items()} == {
        "lead-1:0:handoff:remind": ("cancelled", "rep-a", at(60)),
        "lead-1:0:handoff:escalate": ("cancelled", "rep-a", at(120)),
        "lead-1:0:handoff:reassign": ("pending", "rep-b", at(180))}


async def test_cancel_stops_the_pending_steps_of_the_clocks_named_and_counts_them(store: Store):
    await plan(store, step("lead-1", "handoff", "remind", 1), step("lead-1", "first_touch", "remind", 2),
               step("lead-1", "first_touch", "escalate", 3), step("lead-1", "recycle", "return_to_pool", 4),
               step("lead-2", "handoff", "remind", 1))
    async with store.transaction() as uow:
        await uow.clocks.mark(["lead-1:0:first_touch:remind"], "fired", at(2))
        assert await uow.clocks.cancel("lead-1", []) == 0
        assert await uow.clocks.cancel("lead-1", ["handoff", "first_touch"]) == 2  # not the fired one
        assert await uow.clocks.cancel("lead-1", ["handoff"]) == 0
    assert await states(store, "lead-1") == {
        "lead-1:0:handoff:remind": ("cancelled", "rep-a"), "lead-1:0:first_touch:remind": ("fired", "rep-a"),
        "lead-1:0:first_touch:escalate": ("cancelled", "rep-a"),
        "lead-1:0:recycle:return_to_pool": ("pending", "rep-a")}
    async with store.transaction() as uow:
        assert await uow.clocks.cancel("lead-1") == 1
        assert await uow.clocks.cancel("nobody") == 0
    assert (await states(store, "lead-2")) == {"lead-2:0:handoff:remind": ("pending", "rep-a")}


async def test_transfer_hands_pending_clocks_but_not_the_offer_to_the_new_owner(store: Store):
    await plan(store, step("lead-1", "handoff", "remind", 1), step("lead-1", "first_touch", "remind", 2),
               step("lead-1", "offer", "offer_expired", 3), step("lead-2", "handoff", "remind", 1))
    async with store.transaction() as uow:
        await uow.clocks.mark(["lead-1:0:handoff:remind"], "fired", at(1))
        await uow.clocks.transfer("lead-1", "rep-b")
        due = {c.timer_id: c.due_at for c in await uow.clocks.for_lead("lead-1")}
    assert await states(store, "lead-1") == {
        "lead-1:0:handoff:remind": ("fired", "rep-a"), "lead-1:0:first_touch:remind": ("pending", "rep-b"),
        "lead-1:0:offer:offer_expired": ("pending", "rep-a")}
    assert due["lead-1:0:first_touch:remind"] == at(2)  # the deadline did not move
    assert await states(store, "lead-2") == {"lead-2:0:handoff:remind": ("pending", "rep-a")}


async def test_claim_due_gives_due_pending_steps_soonest_first_up_to_the_limit(store: Store):
    await plan(store, step("lead-2", "handoff", "remind", 5), step("lead-1", "handoff", "remind", 5),
               step("lead-1", "first_touch", "remind", 1), step("lead-1", "first_touch", "escalate", 10),
               step("lead-3", "handoff", "remind", 11), step("lead-3", "first_touch", "remind", 0))
    async with store.transaction() as uow:
        await uow.clocks.mark(["lead-3:0:first_touch:remind"], "fired", at(0))
        assert not await uow.clocks.any_due(at(0.5))
        assert await uow.clocks.claim_due(at(0.5), 10) == []
        assert await uow.clocks.any_due(at(10))
        claimed = await uow.clocks.claim_due(at(10), 3)  # due at the moment itself counts
        every = await uow.clocks.claim_due(at(10), 100)
    assert [c.timer_id for c in claimed] == ["lead-1:0:first_touch:remind", "lead-1:0:handoff:remind",
                                             "lead-2:0:handoff:remind"]  # a tie goes by timer id
    assert [c.timer_id for c in every] == [c.timer_id for c in claimed] + ["lead-1:0:first_touch:escalate"]
    for clock in claimed:
        assert_aware_utc(clock)


async def test_a_marked_step_is_no_longer_due_and_records_when_it_fired(store: Store):
    await plan(store, step("lead-1", "handoff", "remind", 1), step("lead-1", "handoff", "escalate", 2))
    async with store.transaction() as uow:
        await uow.clocks.mark([], "fired", at(3))
        await uow.clocks.mark(["lead-1:0:handoff:remind", "lead-1:0:handoff:escalate"], "fired", at(3))
        assert not await uow.clocks.any_due(at(60))
    async with store.read() as uow:
        clocks = await uow.clocks.for_lead("lead-1")
    assert [(c.state, c.fired_at) for c in clocks] == [("fired", at(3)), ("fired", at(3))]
    for clock in clocks:
        assert_aware_utc(clock)


async def test_stats_count_open_steps_and_give_the_oldest_overdue_one(store: Store):
    async with store.read() as uow:
        assert await uow.clocks.stats(AT) == (0, None)
    await plan(store, step("lead-1", "handoff", "remind", -10), step("lead-1", "handoff", "escalate", -5),
               step("lead-2", "handoff", "remind", 30), step("lead-3", "handoff", "remind", -20))
    async with store.transaction() as uow:
        await uow.clocks.mark(["lead-3:0:handoff:remind"], "fired", AT)
        count, oldest = await uow.clocks.stats(AT)
        assert await uow.clocks.stats(at(-60)) == (3, None)
    assert (count, oldest) == (3, at(-10))
    assert oldest is not None and oldest.utcoffset() == timedelta(0)
