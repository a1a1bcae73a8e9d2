"""``TokenRepository.spend_nonce`` / ``unspend_nonce`` (``shared/ports/access.py``): a one-click
link or a signed Slack request is good once."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from leadrelay.shared.ports import Store
from tests.conftest import FakeClock
from tests.contract.conftest import STORE_EPOCH

EXPIRES = STORE_EPOCH + timedelta(hours=24)


async def test_a_nonce_is_spent_once(store: Store):
    async with store.read() as uow:
        assert await uow.tokens.nonce_spent("link:n1") is False
    async with store.transaction() as uow:
        assert await uow.tokens.spend_nonce("link:n1", EXPIRES) is True
        assert await uow.tokens.nonce_spent("link:n1") is True
        assert await uow.tokens.spend_nonce("link:n1", EXPIRES) is False  # within its transaction
    async with store.transaction() as uow:
        assert await uow.tokens.spend_nonce("link:n1", EXPIRES) is False  # and after it committed
        assert await uow.tokens.spend_nonce("link:n2", EXPIRES) is True
    async with store.read() as uow:
        assert await uow.tokens.nonce_spent("link:n1") and not await uow.tokens.nonce_spent("link:n3")


async def test_a_rolled_back_spend_leaves_the_nonce_unspent(store: Store):
    try:
        async with store.transaction() as uow:
            assert await uow.tokens.spend_nonce("link:n1", EXPIRES) is True
            raise RuntimeError("the action failed")
    except RuntimeError:
        pass
    async with store.transaction() as uow:
        assert await uow.tokens.spend_nonce("link:n1", EXPIRES) is True


async def test_an_unspent_nonce_can_be_spent_again(store: Store):
    async with store.transaction() as uow:
        await uow.tokens.spend_nonce("link:n1", EXPIRES)
    async with store.transaction() as uow:
        await uow.tokens.unspend_nonce("link:n1")
        await uow.tokens.unspend_nonce("link:never-spent")  # forgetting an unknown nonce is harmless
        assert await uow.tokens.nonce_spent("link:n1") is False
    async with store.transaction() as uow:
        assert await uow.tokens.spend_nonce("link:n1", EXPIRES) is True


async def test_two_spends_at_once_one_wins(store: Store):
    async def spend() -> bool:
        async with store.transaction() as uow:
            spent = await uow.tokens.spend_nonce("slack:sig", EXPIRES)
            await asyncio.sleep(0.05)  # the other one runs meanwhile
            return spent

    assert sorted(await asyncio.wait_for(asyncio.gather(spend(), spend()), 10)) == [False, True]


async def test_a_nonce_is_remembered_until_an_hour_past_its_expiry(store: Store, store_clock: FakeClock):
    async with store.transaction() as uow:
        await uow.tokens.spend_nonce("link:n1", STORE_EPOCH + timedelta(minutes=5))
    store_clock.advance(minutes=5 + 59)
    async with store.transaction() as uow:
        assert await uow.tokens.spend_nonce("link:n1", STORE_EPOCH + timedelta(minutes=5)) is False
    store_clock.advance(minutes=2)  # forgotten: the credential it belongs to is refused by its expiry anyway
    async with store.transaction() as uow:
        assert await uow.tokens.spend_nonce("link:n1", STORE_EPOCH + timedelta(minutes=5)) is True
