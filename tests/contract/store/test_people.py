"""``PersonRepository`` (``shared/ports/people.py``): one record per person, found by any key."""

from __future__ import annotations

import pytest

from leadrelay.shared.ports import Store, StoredPerson
from tests.contract.conftest import StoreHarness
from tests.contract.store.values import AT, assert_aware_utc, at


async def test_nobody_is_known_at_first(store: Store):
    async with store.read() as uow:
        assert await uow.people.ids_for_keys(["email-key", "phone-key"]) == []
        assert await uow.people.ids_for_keys([]) == []
        assert await uow.people.get("p-1") is None


async def test_a_new_person_comes_back_typed_and_is_found_by_each_of_their_keys(store: Store):
    data = {"name": "Li Wei", "company": "Big Factory", "employees": 2000, "last_lead_id": "lead-1"}
    async with store.transaction() as uow:
        await uow.people.save("p-1", data, "rep-a", 1, at(-60), AT, ["email-key", "phone-key"], new=True)
    async with store.read() as uow:
        person = await uow.people.get("p-1")
        assert await uow.people.ids_for_keys(["email-key"]) == ["p-1"]
        assert await uow.people.ids_for_keys(["phone-key", "email-key", "unknown"]) == ["p-1"]
    assert person == StoredPerson(person_id="p-1", data=data, owner="rep-a", lead_count=1, first_seen_at=at(-60),
                                  last_seen_at=AT)
    assert_aware_utc(person)


async def test_the_ids_for_keys_are_every_person_they_belong_to_sorted(store: Store):
    async with store.transaction() as uow:
        await uow.people.save("p-b", {}, None, 1, AT, AT, ["email-b", "phone-b"], new=True)
        await uow.people.save("p-a", {}, None, 1, AT, AT, ["email-a"], new=True)
        assert await uow.people.ids_for_keys(["phone-b", "email-a", "email-b"]) == ["p-a", "p-b"]


async def test_an_update_replaces_the_person_and_links_new_keys_beside_the_old(store: Store):
    async with store.transaction() as uow:
        await uow.people.save("p-1", {"name": "Li Wei", "title": "CTO"}, None, 1, at(-60), at(-60), ["email-key"],
                              new=True)
    async with store.transaction() as uow:
        await uow.people.save("p-1", {"name": "Li Wei", "title": "CEO"}, "rep-a", 2, at(-60), AT,
                              ["email-key", "phone-key"], new=False)
    async with store.read() as uow:
        person = await uow.people.get("p-1", lock=False)
        assert await uow.people.ids_for_keys(["email-key"]) == ["p-1"]
        assert await uow.people.ids_for_keys(["phone-key"]) == ["p-1"]
    assert person is not None
    assert (person.data, person.owner, person.lead_count, person.first_seen_at, person.last_seen_at) == (
        {"name": "Li Wei", "title": "CEO"}, "rep-a", 2, at(-60), AT)


async def test_a_key_stays_with_the_person_it_was_first_linked_to(store: Store):
    async with store.transaction() as uow:
        await uow.people.save("p-1", {}, None, 1, AT, AT, ["shared-phone"], new=True)
        await uow.people.save("p-2", {}, None, 1, AT, AT, ["email-2", "shared-phone"], new=True)
        assert await uow.people.ids_for_keys(["shared-phone"]) == ["p-1"]
        assert await uow.people.ids_for_keys(["email-2"]) == ["p-2"]


async def test_a_new_person_with_a_taken_id_is_refused(store_harness: StoreHarness):
    with pytest.raises(store_harness.refused):
        async with store_harness.store.transaction() as uow:
            await uow.people.save("p-1", {}, None, 1, AT, AT, [], new=True)
            await uow.people.save("p-1", {}, None, 1, AT, AT, [], new=True)


async def test_set_owner_changes_only_the_owner(store: Store):
    async with store.transaction() as uow:
        await uow.people.save("p-1", {"name": "Li Wei"}, None, 3, at(-60), AT, ["k"], new=True)
        await uow.people.set_owner("p-1", "rep-b")
        assert await uow.people.get("p-1", lock=True) == StoredPerson("p-1", {"name": "Li Wei"}, "rep-b", 3, at(-60), AT)
        await uow.people.set_owner("p-1", None)
        person = await uow.people.get("p-1")
        assert person is not None and person.owner is None


async def test_keys_move_to_another_person_and_a_person_without_keys_can_be_deleted(store: Store):
    async with store.transaction() as uow:
        await uow.people.save("p-1", {}, None, 1, AT, AT, ["email-1", "phone-1"], new=True)
        await uow.people.save("p-2", {}, None, 1, AT, AT, ["email-2"], new=True)
    async with store.transaction() as uow:
        assert await uow.people.keys_of("p-1") == ["email-1", "phone-1"]
        await uow.people.move_keys(["email-1", "phone-1"], "p-2")
        await uow.people.delete("p-1")
    async with store.read() as uow:
        assert await uow.people.keys_of("p-2") == ["email-1", "email-2", "phone-1"]
        assert await uow.people.keys_of("p-1") == []
        assert await uow.people.get("p-1") is None
        assert await uow.people.ids_for_keys(["phone-1"]) == ["p-2"]


async def test_many_people_and_their_keys_in_one_read(store: Store):
    async with store.transaction() as uow:
        await uow.people.save("p-1", {"name": "A"}, None, 1, AT, AT, ["k-2", "k-1"], new=True)
        await uow.people.save("p-2", {"name": "B"}, "rep-a", 2, AT, AT, [], new=True)
    async with store.read() as uow:
        people = await uow.people.get_many(["p-1", "p-2", "p-missing"])
        keys = await uow.people.keys_of_many(["p-1", "p-2", "p-missing"])
    assert sorted(people) == ["p-1", "p-2"] and people["p-2"].owner == "rep-a"
    assert keys == {"p-1": ["k-1", "k-2"]}
