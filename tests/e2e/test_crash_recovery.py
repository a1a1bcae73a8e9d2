"""kill -9 in the middle of a stream of leads: every lead answered 202 is assigned exactly once
and notified after a restart. The process is the real ``leadrelay run``; the chat is the fake
Slack server; the checks read the SQLite file the process wrote."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import chat_messages_for, policy_text

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def leadrelay(*args: str, data_dir: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "leadrelay.shared.shell.cli", *args, "--data-dir", str(data_dir)],
                          capture_output=True, text=True, check=True, timeout=60)


class Server:
    def __init__(self, data_dir: Path, policy: Path, port: int, log: Path) -> None:
        self.args = [sys.executable, "-m", "leadrelay.shared.shell.cli", "run", "--data-dir", str(data_dir),
                     "--policy", str(policy), "--port", str(port)]
        self.url = f"http://127.0.0.1:{port}"
        self.log = log
        self.process: subprocess.Popen | None = None

    async def start(self) -> None:
        self.process = subprocess.Popen(self.args, stdout=subprocess.DEVNULL, stderr=self.log.open("ab"),
                                        env={**os.environ, "LEADRELAY_LOG_LEVEL": "WARNING"})
        deadline = time.monotonic() + 60
        async with httpx.AsyncClient() as client:
            while time.monotonic() < deadline:
                assert self.process.poll() is None, self.log.read_text()[-3000:]
                try:
                    if (await client.get(self.url + "/healthz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
        raise AssertionError("leadrelay run did not start")

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()


async def post_stream(url: str, key: str, count: int, accepted: list[str], errors: list[str]) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        for i in range(count):
            try:
                response = await client.post(f"{url}/v1/leads", headers={"Authorization": f"Bearer {key}"},
                                             json={"email": f"crash{i}-{time.time_ns()}@example.com", "name": f"C {i}"})
            except httpx.TransportError as exc:
                errors.append(type(exc).__name__)
                continue
            if response.status_code == 202:
                accepted.append(response.json()["lead_id"])
            else:
                errors.append(str(response.status_code))


async def test_kill_9_mid_stream_loses_nothing_and_assigns_each_lead_once(tmp_path: Path, chat):
    data_dir = tmp_path / "data"
    policy = tmp_path / "policy.yaml"
    policy.write_text(policy_text(chat))
    key = leadrelay("sources", "add", "web", data_dir=data_dir).stdout.strip().splitlines()[-1]
    server = Server(data_dir, policy, free_port(), tmp_path / "server.log")
    accepted: list[str] = []
    errors: list[str] = []
    try:
        await server.start()
        streams = [asyncio.create_task(post_stream(server.url, key, 150, accepted, errors)) for _ in range(4)]
        while len(accepted) < 120:
            await asyncio.sleep(0.01)
        server.kill()
        await asyncio.gather(*streams)
        assert errors, "the kill should have interrupted some posts"
        killed_at = len(accepted)

        await server.start()
        await post_stream(server.url, key, 30, accepted, errors)
        assert len(accepted) >= killed_at + 30

        db = data_dir / "leadrelay.db"
        deadline = time.monotonic() + 90
        while True:
            with sqlite3.connect(db) as conn:
                assigned = dict(conn.execute("SELECT lead_id, owner FROM leads WHERE state = 'assigned'").fetchall())
                decisions = dict(conn.execute("SELECT lead_id, COUNT(*) FROM decisions GROUP BY lead_id").fetchall())
                sent = {row[0] for row in conn.execute("SELECT lead_id FROM deliveries WHERE state = 'sent'")}
            if set(accepted) <= set(assigned) and set(accepted) <= sent:
                break
            assert time.monotonic() < deadline, (
                f"{len(set(accepted) - set(assigned))} accepted leads unassigned, "
                f"{len(set(accepted) - sent)} not notified")
            await asyncio.sleep(0.2)

        assert all(decisions[lead_id] == 1 for lead_id in accepted), "a lead was assigned twice"
        notified = {lead_id for lead_id in accepted if chat_messages_for(chat, lead_id)}
        assert notified == set(accepted)
    finally:
        server.stop()
