"""``SourceRepository`` and ``TokenRepository`` (``shared/ports/access.py``), by hash only."""

from __future__ import annotations

from datetime import timedelta

import pytest

from leadrelay.shared.ports import SourceRecord, Store, TokenRecord
from tests.contract.conftest import STORE_EPOCH, StoreHarness
from tests.contract.store.values import assert_aware_utc

LATER = STORE_EPOCH + timedelta(minutes=5)

# -- sources -------------------------------------------------------------------------------------


async def test_a_source_comes_back_by_name_and_by_its_key(store: Store):
    async with store.transaction() as uow:
        await uow.sources.add("web", "api", "hash-web", "lr_web1", {"form": {"fields": ["email"]}})
    async with store.read() as uow:
        by_name = await uow.sources.by_name("web")
        by_key = await uow.sources.by_key_hash("hash-web")
        assert await uow.sources.by_name("nobody") is None and await uow.sources.by_key_hash("nothing") is None
    assert by_name == by_key == SourceRecord(name="web", kind="api", key_hash="hash-web", key_prefix="lr_web1",
                                             config={"form": {"fields": ["email"]}}, created_at=STORE_EPOCH,
                                             revoked_at=None)
    assert_aware_utc(by_name)


async def test_sources_are_listed_by_name_revoked_ones_too(store: Store):
    async with store.transaction() as uow:
        for name in ("web", "csv", "meta"):
            await uow.sources.add(name, "api", f"hash-{name}", "lr_x", {})
        await uow.sources.revoke("meta")
        assert [s.name for s in await uow.sources.list()] == ["csv", "meta", "web"]


async def test_a_revoked_source_is_found_by_name_but_no_longer_by_its_key(store_harness: StoreHarness):
    async with store_harness.store.transaction() as uow:
        await uow.sources.add("web", "api", "hash-web", "lr_web1", {})
    store_harness.clock.advance(minutes=5)
    async with store_harness.store.transaction() as uow:
        assert await uow.sources.revoke("web") is True
        assert await uow.sources.revoke("web") is False
        assert await uow.sources.revoke("nobody") is False
    async with store_harness.store.read() as uow:
        revoked = await uow.sources.by_name("web")
        assert await uow.sources.by_key_hash("hash-web") is None
    assert revoked is not None and revoked.revoked_at == LATER and revoked.created_at == STORE_EPOCH
    assert_aware_utc(revoked)


async def test_a_rotated_key_replaces_the_old_one(store: Store):
    async with store.transaction() as uow:
        await uow.sources.add("web", "api", "hash-old", "lr_old", {})
        assert await uow.sources.rotate_key("web", "hash-new", "lr_new") is True
        assert await uow.sources.rotate_key("nobody", "hash-x", "lr_x") is False
    async with store.read() as uow:
        assert await uow.sources.by_key_hash("hash-old") is None
        rotated = await uow.sources.by_key_hash("hash-new")
    assert rotated is not None and (rotated.name, rotated.key_prefix) == ("web", "lr_new")


async def test_a_revoked_source_keeps_its_key_unrotatable(store: Store):
    async with store.transaction() as uow:
        await uow.sources.add("web", "api", "hash-old", "lr_old", {})
        await uow.sources.revoke("web")
        assert await uow.sources.rotate_key("web", "hash-new", "lr_new") is False
        assert await uow.sources.by_key_hash("hash-new") is None


async def test_a_revoked_name_is_reused_as_a_new_active_source(store_harness: StoreHarness):
    async with store_harness.store.transaction() as uow:
        await uow.sources.add("web", "api", "hash-old", "lr_old", {"a": 1})
        assert await uow.sources.reuse("web", "meta", "hash-new", "lr_new", {"b": 2}) is False  # still active
        assert await uow.sources.reuse("nobody", "api", "hash-x", "lr_x", {}) is False
        await uow.sources.revoke("web")
    store_harness.clock.advance(minutes=5)
    async with store_harness.store.transaction() as uow:
        assert await uow.sources.reuse("web", "meta", "hash-new", "lr_new", {"b": 2}) is True
    async with store_harness.store.read() as uow:
        reused = await uow.sources.by_key_hash("hash-new")
        assert await uow.sources.by_key_hash("hash-old") is None
    assert reused == SourceRecord(name="web", kind="meta", key_hash="hash-new", key_prefix="lr_new", config={"b": 2},
                                  created_at=LATER, revoked_at=None)


async def test_a_source_name_and_a_key_are_each_taken_once(store_harness: StoreHarness):
    async with store_harness.store.transaction() as uow:
        await uow.sources.add("web", "api", "hash-web", "lr_web", {})
    with pytest.raises(store_harness.refused):
        async with store_harness.store.transaction() as uow:
            await uow.sources.add("web", "api", "hash-other", "lr_other", {})
    with pytest.raises(store_harness.refused):
        async with store_harness.store.transaction() as uow:
            await uow.sources.add("csv", "api", "hash-web", "lr_web", {})


# -- tokens --------------------------------------------------------------------------------------


async def test_a_token_comes_back_by_its_hash(store: Store):
    async with store.transaction() as uow:
        await uow.tokens.add("hash-rep", "lr_tok_rep", "rep", "rep-a")
    async with store.read() as uow:
        token = await uow.tokens.by_hash("hash-rep")
        assert await uow.tokens.by_hash("unknown") is None
    assert token == TokenRecord(token_hash="hash-rep", key_prefix="lr_tok_rep", role="rep", rep_id="rep-a",
                                created_at=STORE_EPOCH, revoked_at=None)
    assert_aware_utc(token)


async def test_tokens_are_listed_oldest_first_revoked_ones_too(store_harness: StoreHarness):
    async with store_harness.store.transaction() as uow:
        await uow.tokens.add("hash-2", "lr_b", "admin", None)
        store_harness.clock.advance(minutes=1)
        await uow.tokens.add("hash-1", "lr_a", "manager", "mgr-a")
        store_harness.clock.advance(minutes=1)
        await uow.tokens.add("hash-3", "lr_c", "rep", "rep-a")
        await uow.tokens.revoke("hash-1")
    async with store_harness.store.read() as uow:
        tokens = await uow.tokens.list()
    assert [(t.token_hash, t.revoked_at is not None) for t in tokens] == [
        ("hash-2", False), ("hash-1", True), ("hash-3", False)]
    for token in tokens:
        assert_aware_utc(token)


async def test_a_revoked_token_is_refused_from_then_on(store_harness: StoreHarness):
    async with store_harness.store.transaction() as uow:
        await uow.tokens.add("hash-rep", "lr_tok_rep", "rep", "rep-a")
    store_harness.clock.advance(minutes=5)
    async with store_harness.store.transaction() as uow:
        assert await uow.tokens.revoke("hash-rep") is True
        assert await uow.tokens.revoke("hash-rep") is False
        assert await uow.tokens.revoke("unknown") is False
    async with store_harness.store.read() as uow:
        assert await uow.tokens.by_hash("hash-rep") is None
        [listed] = await uow.tokens.list()
    assert listed.revoked_at == LATER


async def test_a_token_hash_is_stored_once(store_harness: StoreHarness):
    with pytest.raises(store_harness.refused):
        async with store_harness.store.transaction() as uow:
            await uow.tokens.add("hash-rep", "lr_a", "rep", "rep-a")
            await uow.tokens.add("hash-rep", "lr_b", "admin", None)
