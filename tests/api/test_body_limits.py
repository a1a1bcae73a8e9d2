"""A body limit on every route, held while the body streams in and before authentication reads
anything large; memory bounded under concurrent oversized posts to a real ``leadrelay run``."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import orjson
import pytest

from leadrelay.shared.settings import Settings
from leadrelay.shared.shell.bootstrap import build_app, build_runtime, create_source
from tests.api.test_intake import assert_problem
from tests.api.test_intake_body import CHUNK, Streamed
from tests.conftest import Pipeline, policy_text

DEFAULTS = Settings()
APP_SECRET = "meta-app-secret"

# Every route that takes a body, unauthenticated, with the limit it is held to.
BODY_ROUTES = [
    ("POST", "/v1/leads", DEFAULTS.max_body_bytes),
    ("POST", "/v1/sources/meta/webhook", DEFAULTS.max_webhook_body_bytes),
    ("POST", "/v1/sources/google-ads/webhook", DEFAULTS.max_webhook_body_bytes),
    ("POST", "/v1/leads/some-lead/activity", DEFAULTS.max_body_bytes),
    ("POST", "/v1/reps/rep-a/credits", DEFAULTS.max_body_bytes),
    ("PUT", "/v1/policy", DEFAULTS.max_policy_body_bytes),
    ("POST", "/v1/webhooks", DEFAULTS.max_body_bytes),
]
# Routes that take no body, and a path that is no route: a body sent to them is never read.
NO_BODY_ROUTES = [("POST", "/v1/pool/some-lead/claim"), ("POST", "/v1/no-such-route"), ("GET", "/v1/me/leads")]

JSON = {"Content-Type": "application/json"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def signed(raw: bytes) -> dict[str, str]:
    digest = hmac.new(APP_SECRET.encode(), raw, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={digest}", **JSON}


@pytest.mark.parametrize(("method", "path", "limit"), BODY_ROUTES)
async def test_a_streamed_body_over_the_limit_is_a_413_before_it_is_read_to_its_end(embedded, method, path, limit):
    body = Streamed(limit * 4)
    # Intake and the policy authenticate before they read: their callers get as far as the body.
    credential = {"/v1/leads": embedded.source_key, "/v1/policy": await embedded.token("admin")}.get(path)
    headers = {**JSON, **(bearer(credential) if credential else {})}
    response = await embedded.client.request(method, path, content=body, headers=headers)
    assert_problem(response, 413, "body")
    assert body.pulled <= limit // CHUNK + 1 < body.chunks


@pytest.mark.parametrize(("method", "path", "limit"), BODY_ROUTES)
async def test_a_declared_length_over_the_limit_is_a_413_before_anything_else(embedded, method, path, limit):
    body = Streamed(limit * 4)
    response = await embedded.client.request(method, path, content=body,
                                             headers={**JSON, "Content-Length": str(limit * 4)})
    assert_problem(response, 413, "body")
    assert body.pulled == 0


@pytest.mark.parametrize(("method", "path"), NO_BODY_ROUTES)
async def test_a_body_sent_where_none_is_taken_is_never_read(embedded, method, path):
    body = Streamed(DEFAULTS.max_body_bytes * 4)
    response = await embedded.client.request(method, path, content=body, headers=JSON)
    assert response.status_code in (401, 404) and response.headers["content-type"].startswith(
        "application/problem+json")
    assert body.pulled == 0


async def test_the_webhooks_take_more_than_the_default_limit(embedded: Pipeline):
    await create_source(embedded.runtime, "meta-ads", "meta", {"app_secret": APP_SECRET,
                                                               "graph_url": "http://127.0.0.1:9/unused"})
    changes = [{"field": "feed", "value": {"post_id": f"{n:020}", "verb": "add"}} for n in range(4000)]
    raw = orjson.dumps({"object": "page", "entry": [{"id": "PAGE", "time": 1700000000, "changes": changes}]})
    assert DEFAULTS.max_body_bytes < len(raw) < DEFAULTS.max_webhook_body_bytes
    response = await embedded.client.post("/v1/sources/meta/webhook", content=raw, headers=signed(raw))
    assert response.status_code == 200 and response.json() == {"accepted": []}
    assert_problem(await embedded.client.post("/v1/leads", content=raw, headers={
        **JSON, **bearer(embedded.source_key)}), 413, "body")


async def test_the_policy_takes_more_than_the_default_limit(embedded: Pipeline):
    document = policy_text(None) + "".join(f"# a note on the rules, line {n}\n" for n in range(4000))
    assert DEFAULTS.max_body_bytes < len(document) < DEFAULTS.max_policy_body_bytes
    response = await embedded.client.put("/v1/policy", content=document, headers={
        **bearer(await embedded.token("admin")), "Content-Type": "application/yaml"})
    assert response.status_code == 200, response.text


async def test_the_default_limit_comes_from_the_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("LEADRELAY_MAX_BODY_BYTES", "5000")
    settings = Settings(data_dir=tmp_path / "data")
    assert settings.max_body_bytes == 5000
    runtime = build_runtime(settings)
    try:
        transport = httpx.ASGITransport(app=build_app(runtime))
        async with httpx.AsyncClient(transport=transport, base_url="http://leadrelay.test") as client:
            body = Streamed(5 * CHUNK)
            response = await client.post("/v1/leads/some-lead/activity", content=body, headers=JSON)
            assert assert_problem(response, 413, "body")["detail"] == "The body is over 5000 bytes."
            assert body.pulled <= 5000 // CHUNK + 1 < body.chunks
    finally:
        await runtime.store.dispose()


# Memory under concurrent oversized posts, in a real `leadrelay run`.
POST_BYTES = 64 * 1024 * 1024
POSTS_PER_ROUTE = 4
OVERSIZED_ROUTES = ["/v1/sources/meta/webhook", "/v1/leads/some-lead/activity", "/v1/reps/rep-a/credits"]
MAX_GROWTH_BYTES = 50 * 1024 * 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_bytes(pid: int) -> int:
    """The process's resident set size, from /proc/<pid>/status (VmRSS, in kB)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for process {pid}")


class PeakRss:
    """Samples a process's RSS every few milliseconds in a thread; ``peak`` is the largest seen."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = rss_bytes(pid)
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self.done.wait(0.005):
            self.peak = max(self.peak, rss_bytes(self.pid))

    def __enter__(self) -> PeakRss:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.done.set()
        self.thread.join(5)


async def oversized() -> AsyncIterator[bytes]:
    """64 MB in 64 KiB chunks, made as they are sent (the client holds one chunk)."""
    chunk = b"x" * (64 * 1024)
    for _ in range(POST_BYTES // len(chunk)):
        yield chunk


@pytest.mark.slow
async def test_memory_stays_bounded_under_concurrent_oversized_unauthenticated_posts(tmp_path: Path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "leadrelay.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "leadrelay.shared.shell.cli", "run", "--port", str(port),
         "--data-dir", str(tmp_path / "data")],
        stdout=subprocess.DEVNULL, stderr=log.open("wb"), env={**os.environ, "LEADRELAY_LOG_LEVEL": "WARNING"})
    try:
        async with httpx.AsyncClient(base_url=url, timeout=httpx.Timeout(120)) as client:
            deadline = time.monotonic() + 60
            while True:
                assert process.poll() is None, log.read_text()[-3000:]
                try:
                    if (await client.get("/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "leadrelay run did not start"
                await asyncio.sleep(0.1)
            for path in OVERSIZED_ROUTES:  # warm up: every code path the posts take, once
                await client.post(path, content=b"x" * (2 * 1024 * 1024), headers=JSON)
            await asyncio.sleep(0.5)
            baseline = rss_bytes(process.pid)
            with PeakRss(process.pid) as rss:
                answers = await asyncio.gather(*(client.post(path, content=oversized(), headers=JSON)
                                                 for path in OVERSIZED_ROUTES for _ in range(POSTS_PER_ROUTE)))
        growth = rss.peak - baseline
        print(f"\nRSS of leadrelay run: {baseline / 2**20:.1f} MiB before, {rss.peak / 2**20:.1f} MiB at most during "
              f"{len(answers)} concurrent {POST_BYTES // 2**20} MiB posts (+{growth / 2**20:.1f} MiB); "
              f"answers {sorted({a.status_code for a in answers})}")
        for answer in answers:
            assert answer.status_code in (401, 413), answer.text
            assert answer.headers["content-type"].startswith("application/problem+json")
        assert growth < MAX_GROWTH_BYTES, f"RSS grew by {growth / 2**20:.1f} MiB"
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
