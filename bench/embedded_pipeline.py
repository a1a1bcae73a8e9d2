"""Leads per second through the embedded pipeline (intake → scoring → router → notifier → chat
sender, against a local Slack-like sink), beside floors measured in the same run: a bare FastAPI
POST driven by the same clients, a bare fsynced SQLite commit, and the rows a lead writes written
bare in batches of 100.

    python bench/embedded_pipeline.py [--leads 2000] [--concurrency 16] [--timeout 600]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from pydantic import BaseModel
from sqlalchemy import event, func, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.figures import figure  # noqa: E402
from bench.workload import lead_body, policy_with_chat_sink, start_chat_sink  # noqa: E402
from leadrelay.shared.adapters.sql import schema  # noqa: E402
from leadrelay.shared.settings import Settings  # noqa: E402
from leadrelay.shared.shell.bootstrap import (  # noqa: E402
    build_app,
    build_runtime,
    bundled_policy_text,
    create_source,
    prepare_embedded,
    run_services,
)
from leadrelay.shared.shell.cli.common import run_async  # noqa: E402

BATCH = 100  # leads per transaction in the bare-rows floor


def pct(ordered: list[float], q: float) -> float:
    return ordered[max(0, int(len(ordered) * q + 0.999999) - 1)]  # nearest rank


# -- floors --------------------------------------------------------------------------------------

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


class BareLead(BaseModel):
    """The lead body's fields, parsed and typed as a form post is, and nothing else."""

    email: str
    name: str | None = None
    company: str | None = None
    title: str | None = None
    country: str | None = None
    region: str | None = None
    industry: str | None = None
    employees: int | None = None
    utm_source: str | None = None
    utm_campaign: str | None = None


def bare_post_app() -> FastAPI:
    """One POST route that parses the lead with pydantic and answers 202: what any FastAPI intake
    pays before it does any work of its own."""
    app = FastAPI()

    @app.post("/v1/leads", status_code=202)
    async def accept(lead: BareLead) -> dict[str, str]:
        return {"lead_id": uuid.uuid4().hex, "status": "accepted"}

    return app


@dataclass
class TableWrites:
    rows: int = 0
    value_bytes: int = 0  # the bound values' size, summed over the rows (an estimate of a row's size)


def bare_lead_rows(path: Path, writes: dict[str, TableWrites], leads: int, leads_in_run: int) -> float:
    """Leads per second when the rows one lead writes (measured in the pipeline: so many rows of
    about so many bytes in each table) are written bare: plain sqlite3, WAL + synchronous=FULL,
    ``BATCH`` leads' rows per transaction with ``executemany``. Updates are written as inserts of
    the same size. Each table has a primary key and one unique text key, as most of ours do."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    plan = []
    for n, (table, counted) in enumerate(sorted(writes.items())):
        if counted.rows == 0:
            continue
        name = f"t{n}_{re.sub(r'[^a-z_]', '', table)}"
        conn.execute(f"CREATE TABLE {name} (id INTEGER PRIMARY KEY, k TEXT NOT NULL UNIQUE, payload TEXT)")
        per_lead = counted.rows / leads_in_run
        plan.append((name, per_lead, "x" * max(1, counted.value_bytes // counted.rows)))
    started = time.perf_counter()
    done = 0
    written = {name: 0.0 for name, _, _ in plan}
    while done < leads:
        batch = min(BATCH, leads - done)
        conn.execute("BEGIN IMMEDIATE")
        for name, per_lead, payload in plan:
            # Fractional rows per lead (a message for one lead in three) are carried over.
            due = written[name] + per_lead * batch
            rows = int(due) - int(written[name])
            written[name] = due
            conn.executemany(f"INSERT INTO {name} (k, payload) VALUES (?, ?)",
                             [(uuid.uuid4().hex, payload) for _ in range(rows)])
        conn.execute("COMMIT")
        done += batch
    elapsed = time.perf_counter() - started
    conn.close()
    return leads / elapsed


# -- the client loop -----------------------------------------------------------------------------

async def post_closed_loop(app: Any, bodies: list[dict], concurrency: int,
                           headers: dict[str, str]) -> tuple[float, list[float]]:
    """Posts every body to ``/v1/leads`` of ``app`` over httpx's ASGI transport (no socket) from
    ``concurrency`` clients, each posting its next lead as soon as the last was answered. Returns
    the wall time and each post's latency (sorted), in seconds; any answer but 202 stops it."""
    queue: asyncio.Queue[dict] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    latencies: list[float] = []

    async def client_worker(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            body = queue.get_nowait()
            started = time.perf_counter()
            response = await client.post("/v1/leads", headers=headers, json=body)
            assert response.status_code == 202, response.text
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client:
        await asyncio.gather(*(client_worker(client) for _ in range(concurrency)))
    return time.perf_counter() - started, sorted(latencies)


# -- counting statements -------------------------------------------------------------------------

_WRITE = re.compile(r'^\s*(INSERT(?:\s+OR\s+\w+)?\s+INTO|UPDATE|DELETE\s+FROM)\s+"?(\w+)', re.IGNORECASE)
_JOBS = {"ConsumerRunner.run": None, "ChatSender.run": "chat sender", "WebhookSender.run": "webhook sender",
         "SlaScheduler.run": "SLA scheduler", "LocalBus._write_queued": "intake (event log append)",
         "post_closed_loop.<locals>.client_worker": "intake (request)"}
NOT_COUNTED = "bench itself (setup, polling)"


def job_of(task: asyncio.Task | None) -> str:
    """Which part of Leadrelay a statement comes from: the job whose task runs it (every consumer,
    sender and scheduler runs as one task of run_services; a request runs in its client's task)."""
    if task is None:
        return "outside any task"
    coro = task.get_coro()
    qualname = getattr(coro, "__qualname__", repr(coro))
    if qualname == "ConsumerRunner.run":
        frame = getattr(coro, "cr_frame", None)
        runner = frame.f_locals.get("self") if frame is not None else None
        return f"consumer {runner.spec.name}" if runner is not None else "a consumer"
    if qualname in _JOBS:
        return _JOBS[qualname]  # type: ignore[return-value]
    if qualname.startswith(("ChatSender.", "WebhookSender.")):  # a send's own task
        return _JOBS[qualname.split(".")[0] + ".run"]  # type: ignore[return-value]
    if qualname.startswith("ConsumerRunner."):
        return "consumers' lag recorders"
    return NOT_COUNTED if qualname in ("pipeline", "main_async") else qualname


@dataclass
class StatementCounter:
    """Every SQL statement the runtime's engines run (BEGIN included; COMMIT goes through the
    driver's ``commit()``, so it is counted apart), per job, and the rows written per table."""

    statements: Counter = field(default_factory=Counter)
    commits: Counter = field(default_factory=Counter)
    writes: dict[str, TableWrites] = field(default_factory=dict)
    _jobs: dict[int, str] = field(default_factory=dict)
    counting: bool = False

    def attach(self, engines: list[Any]) -> None:
        for engine in {id(e.sync_engine): e.sync_engine for e in engines}.values():
            event.listen(engine, "after_cursor_execute", self._after_execute)
            event.listen(engine, "commit", self._commit)

    def _job(self) -> str:
        try:
            task = asyncio.current_task()
        except RuntimeError:
            task = None
        if task is None:
            return job_of(None)
        if id(task) not in self._jobs:
            self._jobs[id(task)] = job_of(task)
        return self._jobs[id(task)]

    def _after_execute(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
                       executemany: bool) -> None:
        if not self.counting:
            return
        self.statements[self._job()] += 1
        if (match := _WRITE.match(statement)) is None:
            return
        rows = cursor.rowcount if cursor.rowcount is not None and cursor.rowcount >= 0 else 1
        sets = parameters if executemany else [parameters]
        size = sum(len(str(value)) for params in sets for value in
                   (params.values() if isinstance(params, dict) else params or ()))
        counted = self.writes.setdefault(match[2].lower(), TableWrites())
        counted.rows += rows
        counted.value_bytes += size  # all the rows' values, whether executemany or one multi-row INSERT

    def _commit(self, conn: Any) -> None:
        if self.counting:
            self.commits[self._job()] += 1

    def total(self, counter: Counter) -> int:
        return sum(n for job, n in counter.items() if job != NOT_COUNTED)


# -- the pipeline --------------------------------------------------------------------------------

@dataclass
class PipelineResult:
    intake_s: float
    routed_s: float
    delivered_s: float | None
    delivered: int
    failed_deliveries: int
    latencies: list[float]
    counter: StatementCounter


async def wait_for(count: Callable[[], Awaitable[int]], target: int, deadline: float) -> tuple[int, bool]:
    while True:
        done = await count()
        if done >= target or time.perf_counter() > deadline:
            return done, done >= target
        await asyncio.sleep(0.05)


async def pipeline(leads: int, concurrency: int, data_dir: Path, sink_url: str, timeout_s: float) -> PipelineResult:
    data_dir.mkdir(parents=True)
    policy_file = data_dir / "policy.yaml"
    policy_file.write_text(policy_with_chat_sink(bundled_policy_text(), sink_url), encoding="utf-8")
    runtime = build_runtime(Settings(data_dir=data_dir, log_level="WARNING"))
    await prepare_embedded(runtime, policy_file)
    key = await create_source(runtime, "bench")
    app = build_app(runtime)
    counter = StatementCounter()
    counter.attach([runtime.store.engine, runtime.store.read_engine])
    stop = asyncio.Event()
    # "notifier" runs the notifier consumer and, beside it, the chat sender (and the webhook
    # sender, idle here: no subscriptions).
    services = asyncio.create_task(run_services(runtime, ("scoring", "router", "notifier"), stop))
    run = uuid.uuid4().hex[:8]
    bodies = [lead_body(run, i) for i in range(leads)]

    async def read_count(query: Any) -> int:
        async with runtime.store.read() as uow:
            return (await uow.tx.conn.execute(query)).scalar_one()

    routed = select(func.count(func.distinct(schema.decisions.c.lead_id)))
    delivered = select(func.count(func.distinct(schema.deliveries.c.lead_id))).where(
        schema.deliveries.c.state == "sent")
    failed = select(func.count()).select_from(schema.deliveries).where(schema.deliveries.c.state == "failed")
    try:
        counter.counting = True
        started = time.perf_counter()
        intake_s, latencies = await post_closed_loop(app, bodies, concurrency, {"Authorization": f"Bearer {key}"})
        deadline = started + intake_s + timeout_s
        await wait_for(lambda: read_count(routed), leads, deadline)
        routed_s = time.perf_counter() - started
        sent, all_sent = await wait_for(lambda: read_count(delivered), leads, deadline)
        delivered_s = time.perf_counter() - started if all_sent else None
        counter.counting = False
        failures = await read_count(failed)
    finally:
        stop.set()
        await services
    return PipelineResult(intake_s, routed_s, delivered_s, sent, failures, latencies, counter)


async def bare_post(leads: int, concurrency: int) -> tuple[float, list[float]]:
    run = uuid.uuid4().hex[:8]
    return await post_closed_loop(bare_post_app(), [lead_body(run, i) for i in range(leads)], concurrency, {})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--leads", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--timeout", type=float, default=600.0,
                        help="seconds after the last post to wait for every lead's chat message")
    args = parser.parse_args()
    leads = args.leads
    with tempfile.TemporaryDirectory() as tmp:
        commits = bare_sqlite_commits(Path(tmp) / "floor.db")
        post_s, post_latencies = run_async(bare_post(leads, args.concurrency))
        sink, sink_url = start_chat_sink()
        try:
            result = run_async(pipeline(leads, args.concurrency, Path(tmp) / "data", sink_url, args.timeout))
        finally:
            sink.terminate()
            sink.wait()
        counter = result.counter
        rows_floor = bare_lead_rows(Path(tmp) / "rows.db", counter.writes, max(leads, 1000), leads)

    bare_post_rate = leads / post_s
    intake_rate = leads / result.intake_s
    routed_rate = leads / result.routed_s
    p50, p99 = statistics.median(result.latencies) * 1000, pct(result.latencies, 0.99) * 1000
    bare_p50, bare_p99 = statistics.median(post_latencies) * 1000, pct(post_latencies, 0.99) * 1000
    statements = counter.total(counter.statements) / leads
    transactions = counter.total(counter.commits) / leads
    rows_per_lead = sum(w.rows for w in counter.writes.values()) / leads
    ceiling = commits / 4
    # Each lead costs at least 4 fsynced commits on the way (intake append, scoring, routing,
    # the notifier's rows; offset commits are batched), so commits/4 is what one-lead-per-commit allows.
    print(f"floor: bare FastAPI POST                 {bare_post_rate:8.0f} posts/s  "
          f"(POST p50 {bare_p50:.1f} ms, p99 {bare_p99:.1f} ms, same {args.concurrency} clients)")
    print(f"floor: bare fsynced SQLite commit        {commits:8.0f} commits/s  (÷4 = {ceiling:.0f} leads/s ceiling)")
    print(f"floor: a lead's rows, bare, {BATCH}/commit    {rows_floor:8.0f} leads/s  "
          f"({rows_per_lead:.1f} rows a lead, as measured below)")
    print(f"intake: 202 answers                      {intake_rate:8.0f} leads/s  "
          f"(POST p50 {p50:.1f} ms, p99 {p99:.1f} ms, {args.concurrency} concurrent clients; "
          f"{intake_rate / bare_post_rate:.2f}× the bare POST)")
    print(f"pipeline: accepted → assigned            {routed_rate:8.0f} leads/s  "
          f"({leads} leads routed, {routed_rate / ceiling:.0%} of the ceiling)")
    if result.delivered_s is not None:
        delivered_rate = leads / result.delivered_s
        print(f"pipeline: accepted → chat delivered      {delivered_rate:8.0f} leads/s  "
              f"(every lead's chat message answered 200 by the local sink; "
              f"{delivered_rate / rows_floor:.1%} of the bare rows)")
    else:
        delivered_rate = 0.0
        print(f"pipeline: accepted → chat delivered      not done: {result.delivered} of {leads} leads had a chat "
              f"message delivered {args.timeout:.0f} s after the last post ({result.failed_deliveries} failed)")
    print(f"cost: SQL statements per lead            {statements:8.1f}  "
          f"({transactions:.1f} transactions a lead; BEGIN counted, COMMIT not)")
    for job, n in sorted(counter.statements.items(), key=lambda item: -item[1]):
        if job != NOT_COUNTED:
            print(f"  {job:38} {n / leads:8.1f} statements, {counter.commits[job] / leads:.2f} commits a lead")
    print("rows written per lead (inserts, updates and deletes), by table:")
    for table, writes in sorted(counter.writes.items(), key=lambda item: -item[1].rows):
        print(f"  {table:38} {writes.rows / leads:8.2f} rows, ~{writes.value_bytes // max(writes.rows, 1)} bytes each")

    figure(f"intake 202s/s, {args.concurrency} clients", intake_rate, "leads/s",
           floor_name="bare FastAPI POST/s, same clients", floor=bare_post_rate, note="target ≥ 0.5")
    figure(f"POST p50, {args.concurrency} clients", p50, "ms", better="lower",
           floor_name="bare FastAPI POST p50", floor=bare_p50)
    figure(f"POST p99, {args.concurrency} clients", p99, "ms", better="lower",
           floor_name="bare FastAPI POST p99", floor=bare_p99)
    figure("accepted → assigned", routed_rate, "leads/s",
           floor_name="fsynced SQLite commits/s ÷ 4", floor=ceiling)
    figure("accepted → chat delivered (local sink)", delivered_rate, "leads/s",
           floor_name=f"a lead's rows written bare, {BATCH} leads a commit", floor=rows_floor,
           note="target ≥ 1,000 leads/s" + ("" if result.delivered_s is not None
                                             else f"; NOT DONE: {result.delivered}/{leads} delivered"))
    figure("SQL statements per lead", statements, "statements", better="lower",
           floor_name="rows a lead writes (one statement each, no reads)", floor=rows_per_lead)
    figure("fsynced SQLite commit", commits, "commits/s", note="the disk's floor for one-lead-per-commit designs")


if __name__ == "__main__":
    # A run's own log lines stay out of the report.
    os.environ.setdefault("LEADRELAY_LOG_LEVEL", "WARNING")
    main()
