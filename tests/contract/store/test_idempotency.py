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
