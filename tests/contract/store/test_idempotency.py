"""``IdempotencyRepository`` (``shared/ports/idempotency.py``): a retried post gets the first answer."""

from __future__ import annotations

from leadrelay.shared.ports import IdempotencyRecord, Store
from tests.contract.conftest import STORE_EPOCH
from tests.contract.store.values import assert_aware_utc


async def test_a_key_is_reserved_once_and_remembers_the_first_answer(store: Store):
    async with store.transaction() as uow:
        assert await uow.idempotency.remember("web", "form-1", "body-hash-1", "lead-1") is True
    async with store.transaction() as uow:
        assert await uow.idempotency.remember("web", "form-1", "body-hash-2", "lead-2") is False
    async with store.read() as uow:
        record = await uow.idempotency.get("web", "form-1")
    assert record == IdempotencyRecord(source="web", key="form-1", body_hash="body-hash-1", lead_id="lead-1",
                                       created_at=STORE_EPOCH)
    assert_aware_utc(record)


async def test_keys_belong_to_their_source(store: Store):
    async with store.transaction() as uow:
        assert await uow.idempotency.remember("web", "form-1", "h", "lead-1") is True
        assert await uow.idempotency.remember("csv", "form-1", "h", "lead-2") is True
        assert await uow.idempotency.get("meta", "form-1") is None
        assert await uow.idempotency.get("web", "form-2") is None
        record = await uow.idempotency.get("csv", "form-1")
    assert record is not None and record.lead_id == "lead-2"


async def test_a_reservation_is_answered_once_for_its_own_body_only(store: Store, store_clock):
    async with store.transaction() as uow:
        await uow.idempotency.remember("web", "form-1", "h1", "lead-1")
        assert (await uow.idempotency.get("web", "form-1")).answered_at is None
        assert await uow.idempotency.answered("web", "form-1", "h2") is False  # another body's
        assert await uow.idempotency.answered("web", "form-2", "h1") is False  # no such key
    store_clock.advance(seconds=5)
    async with store.transaction() as uow:
        assert await uow.idempotency.answered("web", "form-1", "h1") is True
    first = store_clock.now
    store_clock.advance(seconds=5)
    async with store.transaction() as uow:
        assert await uow.idempotency.answered("web", "form-1", "h1") is True  # again: still the first time
    async with store.read() as uow:
        record = await uow.idempotency.get("web", "form-1")
    assert record is not None and record.answered_at == first and record.body_hash == "h1"
    assert_aware_utc(record)


async def test_only_an_unanswered_reservation_of_the_same_body_is_forgotten(store: Store):
    async with store.transaction() as uow:
        await uow.idempotency.remember("web", "form-1", "h1", "lead-1")
        await uow.idempotency.remember("web", "form-2", "h1", "lead-2")
        await uow.idempotency.answered("web", "form-2", "h1")
    async with store.transaction() as uow:
        assert await uow.idempotency.forget("web", "form-1", "h2") is False  # another body's reservation
        assert await uow.idempotency.forget("web", "form-2", "h1") is False  # answered: kept for good
        assert await uow.idempotency.forget("web", "form-3", "h1") is False
        assert await uow.idempotency.forget("web", "form-1", "h1") is True
    async with store.read() as uow:
        assert await uow.idempotency.get("web", "form-1") is None
        assert (await uow.idempotency.get("web", "form-2")).lead_id == "lead-2"
    async with store.transaction() as uow:  # released: the key can be reserved again, for any body
        assert await uow.idempotency.remember("web", "form-1", "h2", "lead-3") is True
