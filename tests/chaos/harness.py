"""Distributed-mode test stack: real Kafka and PostgreSQL, services as real processes."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import func, select

from leadrelay.shared.adapters.sql import schema
from leadrelay.shared.runtime import Runtime
from leadrelay.shared.shell.bootstrap import apply_policy, build_app, build_runtime, create_source, ensure_topics
from tests.conftest import distributed_settings, policy_text, scratch_database

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Stack:
    runtime: Runtime
    client: httpx.AsyncClient
    key: str
    env: dict[str, str]
    logs: Path
    processes: list[tuple[str, subprocess.Popen]] = field(default_factory=list)

    def start(self, service: str, **extra_env: str) -> subprocess.Popen:
        log = self.logs / f"{service}-{len(self.processes)}.log"
        process = subprocess.Popen([sys.executable, "-m", "leadrelay.shared.shell.cli", "serve", service],
                                   env={**self.env, **extra_env}, stdout=subprocess.DEVNULL,
                                   stderr=log.open("ab"), cwd=REPO)
        self.processes.append((str(log), process))
        return process

    def log_of(self, process: subprocess.Popen) -> str:
        for log, p in self.processes:
            if p is process:
                return Path(log).read_text(errors="replace")
        raise KeyError(process)

    def stop_all(self) -> None:
        for _, process in self.processes:
            if process.poll() is None:
                process.terminate()
        for _, process in self.processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()

    async def post(self, i: int) -> httpx.Response:
        return await self.client.post("/v1/leads", headers={"Authorization": f"Bearer {self.key}"},
                                      json={"email": f"chaos{i}-{uuid.uuid4().hex[:6]}@example.com", "name": f"C {i}"})

    async def decisions(self) -> dict[str, int]:
        async with self.runtime.store.read() as uow:
            rows = await uow.tx.conn.execute(
                select(schema.decisions.c.lead_id, func.count()).group_by(schema.decisions.c.lead_id))
            return dict(rows.all())

    async def wait_all_routed(self, lead_ids: list[str], timeout: float = 90) -> dict[str, int]:
        deadline = time.monotonic() + timeout
        while True:
            try:
                decided = await self.decisions()
            except Exception:  # the database may be restarting
                decided = {}
            if set(lead_ids) <= set(decided):
                return decided
            for log, process in self.processes:
                code = process.poll()
                assert code is None or code < 0 or code == 0, f"{log} exited {code}:\n{Path(log).read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"{len(set(lead_ids) - set(decided))} of {len(lead_ids)} leads unrouted"
            await asyncio.sleep(0.2)


@asynccontextmanager
async def distributed_stack(tmp_path: Path, chat, partitions: int = 4) -> AsyncIterator[Stack]:
    async with scratch_database() as url:
        prefix = f"c{uuid.uuid4().hex[:8]}."
        settings = distributed_settings(url, prefix).model_copy(update={"kafka_partitions": partitions})
        runtime = build_runtime(settings)
        await ensure_topics(runtime)
        await apply_policy(runtime, policy_text(chat), "test")
        key = await create_source(runtime, "web")
        env = {**os.environ, "LEADRELAY_MODE": "distributed", "LEADRELAY_DATABASE_URL": url,
               "LEADRELAY_KAFKA_BOOTSTRAP": settings.kafka_bootstrap, "LEADRELAY_TOPIC_PREFIX": prefix,
               "LEADRELAY_KAFKA_PARTITIONS": str(partitions), "LEADRELAY_IDENTITY_SALT": settings.identity_salt,
               "LEADRELAY_LINK_SECRET": settings.link_secret or "",
               "LEADRELAY_PUBLIC_URL": "http://leadrelay.test", "LEADRELAY_LOG_LEVEL": "INFO"}
        logs = tmp_path / "logs"
        logs.mkdir()
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=build_app(runtime)), base_url="http://test")
        stack = Stack(runtime, client, key, env, logs)
        try:
            yield stack
        finally:
            stack.stop_all()
            await client.aclose()
            await runtime.bus.stop()
            await runtime.store.dispose()
