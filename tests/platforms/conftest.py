"""Fixtures for the fake chat platforms.

Other test folders can reuse them with
``from tests.platforms.conftest import fake_chat, fake_chat_server  # noqa: F401``
in their own conftest.py, or use ``FakeChat().serve()`` from tests.platforms.fake_chat directly.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.platforms.fake_chat import FakeChat


@pytest.fixture(scope="session")
def fake_chat_server() -> Iterator[FakeChat]:
    """One uvicorn server per session; starting one per test would cost more than the tests."""
    with FakeChat().serve() as chat:
        yield chat


@pytest.fixture
def fake_chat(fake_chat_server: FakeChat) -> Iterator[FakeChat]:
    """The shared server with a clean slate: no webhooks, no records, default limits and clock."""
    fake_chat_server.reset()
    yield fake_chat_server
    fake_chat_server.reset()
