"""``MatchRepository`` (``shared/ports/matches.py``): blocking keys, merges and review pairs."""

from __future__ import annotations

from leadrelay.shared.ports import DuplicatePair, PersonMerge, Store
from tests.contract.store.values import AT, assert_aware_utc, at


async def test_candidates_are_the_most_recently_seen_people_per_key_each_once(store: Store):
    async with store.transaction() as uow:
        await uow.matches.link("p-old", ["nc:a", "n:a"], at(-300))
        await uow.matches.link("p-new", ["n:a"], at(-10))
        await uow.matches.link("p-mid", ["n:a"], at(-100))
        await uow.matches.link("p-other", ["n:b"], AT)
    async with store.read() as uow:
        assert await uow.matches.candidates(["nc:a", "n:a"], per_key=2) == ["p-old", "p-new", "p-mid"]
        assert await uow.matches.candidates(["n:a"], per_key=1) == ["p-new"]
        assert await uow.matches.candidates(["n:zzz"], per_key=5) == []


async def test_linking_again_moves_seen_forward_and_unlink_forgets_the_person(store: Store):
    async with store.transaction() as uow:
        await uow.matches.link("p-1", ["n:a"], at(-300))
        await uow.matches.link("p-2", ["n:a"], at(-100))
        await uow.matches.link("p-1", ["n:a"], AT)  # seen again
    async with store.read() as uow:
        assert await uow.matches.candidates(["n:a"], per_key=1) == ["p-1"]
    async with store.transaction() as uow:
        await uow.matches.unlink("p-1")
    async with store.read() as uow:
        assert await uow.matches.candidates(["n:a"], per_key=5) == ["p-2"]


def a_merge(merge_id: str = "m-1", when=AT) -> PersonMerge:
    return PersonMerge(merge_id=merge_id, person_id="p-1", from_person_id=None, lead_ids=["lead-2"],
                       identity_keys=["p:x"], person_before={"name": "王磊", "last_lead_id": "lead-1"}, kind="auto",
                       score=0.97, reasons=["name 1.00", "company 0.95"], merged_at=when, merged_by="scoring")


async def test_a_merge_comes_back_as_recorded_and_is_undone_once(store: Store):
    async with store.transaction() as uow:
        await uow.matches.record_merge(a_merge("m-1", at(-60)))
        await uow.matches.record_merge(a_merge("m-2", AT))
    async with store.read() as uow:
        merge = await uow.matches.merge("m-1")
        newest_first = [m.merge_id for m in await uow.matches.merges()]
    assert merge == a_merge("m-1", at(-60))
    assert_aware_utc(merge)
    assert newest_first == ["m-2", "m-1"]
    async with store.transaction() as uow:
        assert await uow.matches.mark_undone("m-1", AT, "admin") is True
        assert await uow.matches.mark_undone("m-1", AT, "admin") is False
    async with store.read() as uow:
        undone = await uow.matches.merge("m-1")
    assert undone is not None and (undone.undone_at, undone.undone_by) == (AT, "admin")


def a_pair(pair_id: str, when=AT) -> DuplicatePair:
    return DuplicatePair(pair_id=pair_id, person_id="p-1", other_person_id="p-2", lead_id="lead-2", score=0.8,
                         reasons=["name 1.00", "different email"], state="open", created_at=when)


async def test_pairs_are_listed_by_state_and_decided_once(store: Store):
    async with store.transaction() as uow:
        await uow.matches.add_pair(a_pair("d-1", at(-60)))
        await uow.matches.add_pair(a_pair("d-2", AT))
    async with store.read() as uow:
        assert [p.pair_id for p in await uow.matches.pairs()] == ["d-2", "d-1"]
        assert await uow.matches.pair("d-1") == a_pair("d-1", at(-60))
        assert await uow.matches.kept_apart("p-2", "p-1") is False
    async with store.transaction() as uow:
        assert await uow.matches.decide("d-1", "kept_apart", AT, "admin") is True
        assert await uow.matches.decide("d-1", "merged", AT, "admin") is False
    async with store.read() as uow:
        assert [p.pair_id for p in await uow.matches.pairs()] == ["d-2"]
        assert [p.pair_id for p in await uow.matches.pairs("kept_apart")] == ["d-1"]
        assert len(await uow.matches.pairs(None)) == 2
        assert await uow.matches.kept_apart("p-2", "p-1") is True
