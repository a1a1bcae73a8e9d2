"""``ConsoleSessionRepository`` (``shared/ports/sessions.py``): the web console's sign-in sessions."""

from __future__ import annotations

from datetime import timedelta

from leadrelay.shared.ports import Store
from tests.conftest import FakeClock
from tests.contract.conftest import STORE_EPOCH


async def test_a_session_is_stored_with_its_token_and_times(store: Store):
    async with store.transaction() as uow:
        await uow.console_sessions.add("s" * 64, "t" * 64, "zh")
    async with store.read() as uow:
        session = await uow.console_sessions.get("s" * 64)
        assert await uow.console_sessions.get("x" * 64) is None
    assert session is not None
    assert (session.token_hash, session.lang) == ("t" * 64, "zh")
    assert session.created_at == session.last_seen_at == STORE_EPOCH


async def test_touch_moves_last_seen_and_set_lang_changes_the_language(store: Store, store_clock: FakeClock):
    async with store.transaction() as uow:
        await uow.console_sessions.add("s1", "t1", None)
    store_clock.advance(minutes=5)
    async with store.transaction() as uow:
        await uow.console_sessions.touch("s1")
        await uow.console_sessions.set_lang("s1", "en")
        await uow.console_sessions.touch("unknown")  # harmless
    async with store.read() as uow:
        session = await uow.console_sessions.get("s1")
    assert session is not None
    assert session.created_at == STORE_EPOCH
    assert session.last_seen_at == STORE_EPOCH + timedelta(minutes=5)
    assert session.lang == "en"


async def test_delete_ends_a_session_once(store: Store):
    async with store.transaction() as uow:
        await uow.console_sessions.add("s1", "t1", None)
        await uow.console_sessions.add("s2", "t1", None)
    async with store.transaction() as uow:
        assert await uow.console_sessions.delete("s1") is True
        assert await uow.console_sessions.delete("s1") is False
    async with store.read() as uow:
        assert await uow.console_sessions.get("s1") is None
        assert await uow.console_sessions.get("s2") is not None


async def test_forget_older_deletes_old_and_idle_sessions_only(store: Store, store_clock: FakeClock):
    async with store.transaction() as uow:
        await uow.console_sessions.add("old", "t1", None)
        await uow.console_sessions.add("idle", "t1", None)
    store_clock.advance(hours=1)
    async with store.transaction() as uow:
        await uow.console_sessions.touch("old")
        await uow.console_sessions.add("fresh", "t1", None)
    async with store.transaction() as uow:
        forgotten = await uow.console_sessions.forget_older(
            created_before=STORE_EPOCH + timedelta(seconds=1), seen_before=STORE_EPOCH + timedelta(minutes=30))
    assert forgotten == 2
    async with store.read() as uow:
        assert await uow.console_sessions.get("fresh") is not None
        assert await uow.console_sessions.get("old") is None and await uow.console_sessions.get("idle") is None
