"""Shared fixtures: an embedded Leadrelay (real SQLite log and store) and the fake chat server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from shared.bootstrap import apply_policy, build_app, build_runtime, create_source, prepare_embedded, run_services
from shared.runtime import Runtime
from shared.security import TOKEN_PREFIX, hash_secret, new_secret, visible_prefix
from shared.settings import Settings
from tests.platforms.fake_chat import FakeChat

FIXTURES = Path(__file__).parent / "fixtures"


def policy_text(chat: FakeChat | None) -> str:
    text = (FIXTURES / "policy.yaml").read_text()
    urls = {name: "http://127.0.0.1:9/unused" for name in ("webhook_a", "webhook_b", "webhook_c", "webhook_mgr")}
    if chat is not None:
        urls = {name: chat.webhook_url("slack", token=f"T000/B000/{name}") for name in urls}
    for name, url in urls.items():
        text = text.replace("{" + name + "}", url)
    return text


@pytest.fixture
def chat() -> Iterator[FakeChat]:
    """A fake Slack with the test policy's webhooks registered."""
    with FakeChat().serve() as server:
        for name in ("webhook_a", "webhook_b", "webhook_c", "webhook_mgr"):
            server.register("slack", f"T000/B000/{name}")
        # Tests post bursts of leads; the real 1/s limit is exercised in tests/platforms.
        server.set_limits("slack")
        yield server


def chat_messages_for(chat: FakeChat, lead_id: str) -> list:
    return [m for m in chat.messages("slack") if lead_id in str(m.payload)]


@dataclass
class Embedded:
    runtime: Runtime
    client: httpx.AsyncClient
    source_key: str

    async def token(self, role: str, rep: str | None = None) -> str:
        token = new_secret(TOKEN_PREFIX)
        async with self.runtime.store.transaction() as uow:
            await uow.add_token(hash_secret(token), visible_prefix(token), role, rep)
        return token

    async def post_lead(self, body: dict, key: str | None = None, **headers: str) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key or self.source_key}", **headers}
        return await self.client.post("/v1/leads", json=body, headers=headers)

    async def wait_for(self, lead_id: str, state: tuple[str, ...] = ("assigned", "queued"),
                       timeout: float = 20.0) -> dict:
        admin = await self.token("admin")
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            response = await self.client.get(f"/v1/leads/{lead_id}", headers={"Authorization": f"Bearer {admin}"})
            if response.status_code == 200 and response.json()["status"] in state:
                return response.json()
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"lead {lead_id} not in {state} after {timeout}s: {response.text[:500]}")
            await asyncio.sleep(0.05)


@pytest.fixture
async def embedded(tmp_path: Path, chat: FakeChat) -> AsyncIterator[Embedded]:
    """The whole embedded pipeline in this event loop, HTTP through ASGI (no socket)."""
    settings = Settings(data_dir=tmp_path / "data", public_url="http://leadrelay.test")
    runtime = build_runtime(settings)
    await prepare_embedded(runtime, None)
    await apply_policy(runtime, policy_text(chat), "test")
    key = await create_source(runtime, "web")
    app = build_app(runtime)
    stop = asyncio.Event()
    task = asyncio.create_task(run_services(runtime, ("scoring", "router", "notifier"), stop))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://leadrelay.test") as client:
        yield Embedded(runtime, client, key)
    stop.set()
    await asyncio.wait_for(task, 30)
