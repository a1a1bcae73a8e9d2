"""Shared fixtures: an embedded Leadrelay (real SQLite log and store) and the fake chat server."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from leadrelay.shared.adapters.sql.migrate import upgrade
from leadrelay.shared.clock import Clock, system_clock
from leadrelay.shared.runtime import Runtime
from leadrelay.shared.security import TOKEN_PREFIX, hash_secret, new_secret, visible_prefix
from leadrelay.shared.settings import Settings
from leadrelay.shared.shell.bootstrap import (
    apply_policy,
    build_app,
    build_runtime,
    create_source,
    prepare_embedded,
    run_services,
)
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
class Pipeline:
    runtime: Runtime
    client: httpx.AsyncClient
    source_key: str

    async def token(self, role: str, rep: str | None = None) -> str:
        token = new_secret(TOKEN_PREFIX)
        async with self.runtime.store.transaction() as uow:
            await uow.tokens.add(hash_secret(token), visible_prefix(token), role, rep)
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


class FakeClock:
    """The time every service reads, moved by the test: SLA ladders without sleeping for minutes."""

    def __init__(self, start: datetime) -> None:
        self.start = start
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


async def start_pipeline(runtime: Runtime, chat: FakeChat, *, embedded: bool,
                         policy: str | None = None, source: str = "web") -> tuple[Pipeline, asyncio.Event, asyncio.Task]:
    if embedded:
        await prepare_embedded(runtime, None)
    await apply_policy(runtime, policy or policy_text(chat), "test")
    key = await create_source(runtime, source)
    stop = asyncio.Event()
    task = asyncio.create_task(run_services(runtime, ("scoring", "router", "notifier"), stop))
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=build_app(runtime)), base_url="http://leadrelay.test")
    return Pipeline(runtime, client, key), stop, task


async def stop_pipeline(pipeline: Pipeline, stop: asyncio.Event, task: asyncio.Task) -> None:
    await pipeline.client.aclose()
    stop.set()
    await asyncio.wait_for(task, 30)


@pytest.fixture
async def embedded(tmp_path: Path, chat: FakeChat) -> AsyncIterator[Pipeline]:
    """The whole embedded pipeline in this event loop, HTTP through ASGI (no socket)."""
    settings = Settings(data_dir=tmp_path / "data", public_url="http://leadrelay.test")
    pipeline, stop, task = await start_pipeline(build_runtime(settings), chat, embedded=True)
    yield pipeline
    await stop_pipeline(pipeline, stop, task)


def infra(name: str) -> str:
    """The address of a real Kafka or PostgreSQL. Missing is a failure, never a skip."""
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: start Kafka and PostgreSQL with `eval \"$(bash deploy/up.sh)\"` "
                    "(deploy/test.sh does this)", pytrace=False)
    return value


@asynccontextmanager
async def scratch_database() -> AsyncIterator[str]:
    """A new PostgreSQL database for one test, migrated to the newest schema with alembic."""
    base = infra("LEADRELAY_TEST_DATABASE_URL")
    name = f"lr_test_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(base, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = base.rsplit("/", 1)[0] + "/" + name
    try:
        await asyncio.to_thread(upgrade, url)
        yield url
    finally:
        await drop_database(admin, name)
        await admin.dispose()


async def drop_database(admin: AsyncEngine, name: str) -> None:
    """Drops a scratch database. An autovacuum worker that just started on it is a superuser's
    process that FORCE may not terminate ("must be a member of the role whose process is being
    terminated"); it finishes within moments, so try again."""
    for attempt in range(20):
        try:
            async with admin.connect() as conn:
                await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            return
        except ProgrammingError as exc:
            if "pg_signal_backend" not in str(exc) or attempt == 19:
                raise
            await asyncio.sleep(0.25)


def distributed_settings(database_url: str, prefix: str) -> Settings:
    return Settings(mode="distributed", database_url=database_url, kafka_bootstrap=infra("LEADRELAY_TEST_KAFKA"),
                    topic_prefix=prefix, kafka_partitions=3, identity_salt="test-salt",
                    link_secret="test-link-secret-0123456789", public_url="http://leadrelay.test")


@asynccontextmanager
async def running_pipeline(backend: str, tmp_path: Path, chat: FakeChat, clock: Clock = system_clock,
                           **options: object) -> AsyncIterator[Pipeline]:
    """The same pipeline on either backend: SQLite + local log, or PostgreSQL + Kafka."""
    if backend == "embedded":
        settings = Settings(data_dir=tmp_path / "data", public_url="http://leadrelay.test")
        running = await start_pipeline(build_runtime(settings, clock), chat, embedded=True, **options)
        yield running[0]
        await stop_pipeline(*running)
        return
    async with scratch_database() as url:
        settings = distributed_settings(url, f"t{uuid.uuid4().hex[:8]}.")
        running = await start_pipeline(build_runtime(settings, clock), chat, embedded=False, **options)
        yield running[0]
        await stop_pipeline(*running)


@pytest.fixture(params=["embedded", "distributed"])
async def pipeline(request: pytest.FixtureRequest, tmp_path: Path, chat: FakeChat) -> AsyncIterator[Pipeline]:
    async with running_pipeline(request.param, tmp_path, chat) as running:
        yield running


# The SLA and notifier suites run with the product's clock years in the past and years in the
# future, so nothing they prove can lean on today's date. Each is a Wednesday 10:00 in Shanghai
# (inside everyone's hours), late in November: no Chinese or US holiday that week before Thursday.
SLA_EPOCHS = {
    "past": datetime(2019, 11, 27, 2, 0, tzinfo=UTC),
    "future": datetime(2041, 11, 27, 2, 0, tzinfo=UTC),
}


@pytest.fixture(params=sorted(SLA_EPOCHS))
def clock(request: pytest.FixtureRequest) -> FakeClock:
    return FakeClock(SLA_EPOCHS[request.param])


@pytest.fixture(params=["embedded", "distributed"])
async def clocked_pipeline(request: pytest.FixtureRequest, tmp_path: Path, chat: FakeChat,
                           clock: FakeClock) -> AsyncIterator[Pipeline]:
    """The pipeline on either backend, reading the test's FakeClock."""
    async with running_pipeline(request.param, tmp_path, chat, clock=clock) as running:
        yield running
