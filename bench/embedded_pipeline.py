"""Leads per second through the embedded pipeline (intake → scoring → router → notifier rows),
beside the floor measured in the same run: a bare fsynced SQLite commit on the same disk.

    python bench/embedded_pipeline.py [--leads 2000] [--concurrency 16]

Chat sending is left out (no webhook is called): this measures our pipeline, not Slack.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.figures import figure  # noqa: E402
from leadrelay.shared.adapters.sql import schema  # noqa: E402
from leadrelay.shared.settings import Settings  # noqa: E402
from leadrelay.shared.shell.bootstrap import build_app, build_runtime, create_source, prepare_embedded, run_services  # noqa: E402


def bare_sqlite_commits(path: Path, count: int = 500) -> float:
    """Commits per second of a one-row insert with WAL + synchronous=FULL: our per-event floor."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, payload BLOB)")
    started = time.perf_counter()
    for _ in range(count):
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO t (payload) VALUES (?)", (b"x" * 600,))
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return count / elapsed


async def pipeline(leads: int, concurrency: int, data_dir: Path) -> dict[str, float]:
    runtime = build_runtime(Settings(data_dir=data_dir, log_level="WARNING"))
    await prepare_embedded(runtime, None)
    key = await create_source(runtime, "bench")
    app = build_app(runtime)
    stop = asyncio.Event()
    # Scoring and routing only: the sender would post to the example policy's placeholder URLs.
    services = asyncio.create_task(run_services(runtime, ("scoring", "router"), stop))
    latencies: list[float] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(leads):
        queue.put_nowait(i)

    async def client_worker(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            i = queue.get_nowait()
            started = time.perf_counter()
            response = await client.post("/v1/leads", headers={"Authorization": f"Bearer {key}"}, json={
                "email": f"bench{i}@example{i % 50}.com", "name": f"Bench {i}", "company": f"Co {i % 50}",
                "employees": (i * 37) % 3000, "country": "CN", "title": "CTO" if i % 7 == 0 else "Engineer"})
            assert response.status_code == 202, response.text
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client:
        await asyncio.gather(*(client_worker(client) for _ in range(concurrency)))
    accepted_at = time.perf_counter()
    while True:
        async with runtime.store.read() as uow:
            done = (await uow.tx.conn.execute(
                select(func.count()).select_from(schema.leads).where(schema.leads.c.state.in_(("assigned", "queued")))
            )).scalar_one()
        if done >= leads:
            break
        await asyncio.sleep(0.05)
    finished = time.perf_counter()
    stop.set()
    await services
    latencies.sort()
    return {
        "intake_per_s": leads / (accepted_at - started),
        "pipeline_per_s": leads / (finished - started),
        "post_p50_ms": statistics.median(latencies) * 1000,
        "post_p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--leads", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        floor = bare_sqlite_commits(Path(tmp) / "floor.db")
        result = asyncio.run(pipeline(args.leads, args.concurrency, Path(tmp) / "data"))
    # Each lead costs at least 4 fsynced commits on the way (intake append, scoring, routing,
    # the three offset commits are batched), so floor/4 is the best this design could do.
    print(f"floor: bare fsynced SQLite commit        {floor:8.0f} commits/s  (÷4 = {floor / 4:.0f} leads/s ceiling)")
    print(f"intake: 202 answers                      {result['intake_per_s']:8.0f} leads/s  "
          f"(POST p50 {result['post_p50_ms']:.1f} ms, p99 {result['post_p99_ms']:.1f} ms, "
          f"{args.concurrency} concurrent clients)")
    print(f"pipeline: accepted → assigned            {result['pipeline_per_s']:8.0f} leads/s  "
          f"({args.leads} leads, {result['pipeline_per_s'] / (floor / 4):.0%} of the ceiling)")
    figure(f"intake 202s/s, {args.concurrency} clients", result["intake_per_s"], "leads/s",
           floor_name="fsynced SQLite commits/s", floor=floor)
    figure(f"POST p50, {args.concurrency} clients", result["post_p50_ms"], "ms", better="lower")
    figure(f"POST p99, {args.concurrency} clients", result["post_p99_ms"], "ms", better="lower")
    figure("accepted → assigned", result["pipeline_per_s"], "leads/s",
           floor_name="the ceiling: fsynced commits/s ÷ 4", floor=floor / 4)


if __name__ == "__main__":
    main()
