"""``PolicyRepository`` (``shared/ports/policies.py``): every applied document, numbered."""

from __future__ import annotations

from datetime import timedelta

import pytest

from leadrelay.shared.ports import PolicyVersionRecord, Store
from tests.conftest import policy_text
from tests.contract.conftest import STORE_EPOCH, StoreHarness
from tests.contract.store.values import assert_aware_utc

SHANGHAI = policy_text(None)
TOKYO = SHANGHAI.replace("timezone: Asia/Shanghai\nbusiness_hours", "timezone: Asia/Tokyo\nbusiness_hours")


class Boom(Exception):
    pass


async def test_no_policy_before_one_is_stored(store: Store):
    async with store.read() as uow:
        assert await uow.policies.current() is None
        assert await uow.policies.document() is None and await uow.policies.document(1) is None
        with pytest.raises(LookupError):
            await uow.policies.get(1)


async def test_each_new_document_is_the_next_version_and_the_newest_again_is_not(store: Store):
    async with store.transaction() as uow:
        assert await uow.policies.store(SHANGHAI, "cli") == (1, True)
        assert await uow.policies.store(SHANGHAI, "someone else") == (1, False)
    async with store.transaction() as uow:
        assert await uow.policies.store(TOKYO) == (2, True)
        assert await uow.policies.store(SHANGHAI) == (3, True)  # only the newest counts as "the same"
    async with store.read() as uow:
        assert await uow.policies.document() == (3, SHANGHAI)
        assert await uow.policies.document(2) == (2, TOKYO)
        assert await uow.policies.document(4) is None


async def test_current_is_the_newest_version_parsed_and_get_any_stored_one(store: Store):
    async with store.transaction() as uow:
        await uow.policies.store(SHANGHAI)
        await uow.policies.store(TOKYO)
    async with store.read() as uow:
        current = await uow.policies.current()
        first = await uow.policies.get(1)
        with pytest.raises(LookupError):
            await uow.policies.get(3)
    assert current is not None and current[0] == 2 and current[1].timezone == "Asia/Tokyo"
    assert first.timezone == "Asia/Shanghai" and first.has_rep("rep-a")


async def test_a_version_is_parsed_once_however_often_it_is_read(store: Store):
    async with store.transaction() as uow:
        await uow.policies.store(SHANGHAI)
    async with store.read() as uow:
        first = await uow.policies.current()
    async with store.transaction() as uow:
        again = await uow.policies.current()
        by_version = await uow.policies.get(1)
    assert first is not None and again is not None
    assert again[1] is first[1] and by_version is first[1]


async def test_a_version_stored_by_a_rolled_back_transaction_is_gone_and_its_number_free(store: Store):
    # Fails on both SQL stores: their PolicyCache keys parsed documents by version number alone
    # and is filled inside the transaction, so a rollback leaves the parsed document behind, and
    # get()/current() serve it for whatever document is stored under that number next.
    with pytest.raises(Boom):
        async with store.transaction() as uow:
            assert await uow.policies.store(SHANGHAI) == (1, True)
            await uow.policies.current()  # read (and parsed) inside the transaction that then fails
            raise Boom
    async with store.read() as uow:
        assert await uow.policies.current() is None
        with pytest.raises(LookupError):
            await uow.policies.get(1)
    async with store.transaction() as uow:
        assert await uow.policies.store(TOKYO) == (1, True)
    async with store.read() as uow:
        assert await uow.policies.document() == (1, TOKYO)
        current = await uow.policies.current()
        assert current is not None and current[1].timezone == "Asia/Tokyo"
        assert (await uow.policies.get(1)).timezone == "Asia/Tokyo"


async def test_versions_lists_every_stored_version_newest_first_without_documents(store_harness: StoreHarness):
    store = store_harness.store
    async with store.read() as uow:
        assert await uow.policies.versions() == []
    async with store.transaction() as uow:
        await uow.policies.store(SHANGHAI, "cli")
    store_harness.clock.advance(minutes=5)
    async with store.transaction() as uow:
        await uow.policies.store(TOKYO, "console:admin")
        await uow.policies.store(TOKYO, "again")  # the same as the newest: no version
    async with store.read() as uow:
        versions = await uow.policies.versions()
        newest = await uow.policies.versions(limit=1)
    assert [(v.version, v.created_by) for v in versions] == [(2, "console:admin"), (1, "cli")]
    assert versions[1].created_at == STORE_EPOCH and versions[0].created_at == STORE_EPOCH + timedelta(minutes=5)
    assert versions[0].digest != versions[1].digest and len(versions[0].digest) == 64
    assert newest == versions[:1]
    for version in versions:
        assert isinstance(version, PolicyVersionRecord)
        assert_aware_utc(version)
