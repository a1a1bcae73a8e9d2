"""End-to-end latency of the distributed pipeline (Kafka + PostgreSQL) at a fixed rate, beside the
floors measured in the same run: a bare Kafka hop and a bare PostgreSQL commit.

    eval "$(bash deploy/up.sh)"
    python bench/kafka_pipeline.py [--rate 50] [--seconds 20]

Leads are posted to the real intake code (``build_app`` through httpx's ASGI transport, no socket)
while the scoring, router and notifier consumers and the outbox relay run in this process on a
scratch database and topics with a unique prefix. For every lead the latency is
``leads.assigned_at - leads.received_at`` (both stamped by the same clock), read from the
database after the run. Chat webhooks point at a local sink answering ``ok`` (a subprocess), so
the notifier does a real, successful delivery per lead, as in production.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import os
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import create_async_engine

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.figures import figure  # noqa: E402
from bench.workload import lead_body, policy_with_chat_sink, start_chat_sink  # noqa: E402
from leadrelay.shared import logging as logs  # noqa: E402
from leadrelay.shared.adapters.sql import schema  # noqa: E402
from leadrelay.shared.adapters.sql.migrate import upgrade  # noqa: E402
from leadrelay.shared.settings import Settings  # noqa: E402
from leadrelay.shared.shell.bootstrap import (  # noqa: E402
    apply_policy,
    build_app,
    build_runtime,
    bundled_policy_text,
    create_source,
    ensure_topics,
    run_services,
)
from leadrelay.shared.shell.cli.common import run_async  # noqa: E402  (the product's loop: uvloop)
from leadrelay.shared.topics import all_topics  # noqa: E402

console = Console(stderr=True)
PAYLOAD = b"x" * 600  # about the size of a lead.received envelope


# -- small helpers -------------------------------------------------------------------------------


def required_env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        console.print(f"[red]{name} is not set.[/red] Start Kafka and PostgreSQL and export their addresses with\n"
                      f'    eval "$(bash deploy/up.sh)"')
        raise SystemExit(2)
    return value


def pct(ordered: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (q in 0..1)."""
    if not ordered:
        return math.nan
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


@dataclass
class Dist:
    """Latencies in milliseconds."""

    name: str
    values: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, float]:
        v = sorted(self.values)
        return {"n": len(v), "p50": pct(v, 0.50), "p95": pct(v, 0.95), "p99": pct(v, 0.99),
                "max": v[-1] if v else math.nan}


async def paced(count: int, rate: float, fire, progress: Progress | None = None, label: str = "") -> float:
    """Calls ``fire(i)`` (which must not block) at ``rate`` per second, open loop; returns the lag
    of the latest call behind its schedule in ms (a busy loop shows up here)."""
    loop = asyncio.get_running_loop()
    task = progress.add_task(label, total=count) if progress else None
    start = loop.time()
    worst = 0.0
    for i in range(count):
        due = start + i / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        worst = max(worst, (loop.time() - due) * 1000)
        fire(i)
        if progress:
            progress.advance(task)
    return worst


def progress_bar() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    console=console, transient=True, disable=not console.is_terminal)


# -- floors --------------------------------------------------------------------------------------


async def kafka_floor(bootstrap: str, topic: str, count: int, rate: float) -> tuple[Dist, Dist]:
    """A bare hop: idempotent acks=all producer → consumer on a fresh one-partition topic.
    Returns (produce → ack, produce → consumed)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 1, 1)])
    finally:
        await admin.close()
    # The same producer settings as shared.adapters.kafka_bus.KafkaBus.
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all", linger_ms=2,
                                request_timeout_ms=10000)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest")
    sent: dict[int, float] = {}
    acks, hops = Dist("kafka ack"), Dist("kafka hop")
    pending: set[asyncio.Task] = set()
    reader: asyncio.Task | None = None
    try:
        await producer.start()
        await consumer.start()
        consumer.assign([TopicPartition(topic, 0)])
        await consumer.seek_to_beginning(TopicPartition(topic, 0))

        async def consume() -> None:
            while len(hops.values) < count:
                batches = await consumer.getmany(timeout_ms=200)
                now = time.perf_counter()
                for records in batches.values():
                    for record in records:
                        i = int(record.key)
                        if i >= 0:  # negative keys are the warm-up
                            hops.values.append((now - sent[i]) * 1000)

        async def send(i: int) -> None:
            sent[i] = time.perf_counter()
            future = await producer.send(topic, PAYLOAD, key=str(i).encode())
            await future
            if i >= 0:
                acks.values.append((time.perf_counter() - sent[i]) * 1000)

        reader = asyncio.create_task(consume())
        # A few unmeasured messages first: metadata, the producer id, the first fetch.
        for i in range(-5, 0):
            await send(i)
        await asyncio.sleep(0.5)

        def fire(i: int) -> None:
            task = asyncio.create_task(send(i))
            pending.add(task)
            task.add_done_callback(pending.discard)

        with progress_bar() as progress:
            await paced(count, rate, fire, progress, f"kafka floor at {rate:g}/s")
        await asyncio.gather(*pending)
        await asyncio.wait_for(reader, 30)
        return acks, hops
    finally:
        if reader is not None and not reader.done():
            reader.cancel()
        for task in pending:
            task.cancel()
        await producer.stop()
        await consumer.stop()


async def postgres_floor(dsn: str, count: int) -> Dist:
    """A bare commit: one-row INSERT + COMMIT through asyncpg, one after another."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("CREATE TABLE bench_floor (id bigserial PRIMARY KEY, payload bytea NOT NULL)")
        commits = Dist("pg commit")
        for i in range(count + 5):
            started = time.perf_counter()
            async with conn.transaction():
                await conn.execute("INSERT INTO bench_floor (payload) VALUES ($1)", PAYLOAD)
            if i >= 5:
                commits.values.append((time.perf_counter() - started) * 1000)
        await conn.execute("DROP TABLE bench_floor")
        return commits
    finally:
        await conn.close()


# -- the pipeline --------------------------------------------------------------------------------

@dataclass
class PipelineResult:
    posted: int
    accepted: int
    post: Dist
    assigned: Dist
    routed: Dist
    notified: Dist
    queued: int
    unfinished: int
    worst_pacing_lag_ms: float
    elapsed_s: float


async def scratch_database(base_url: str) -> str:
    name = f"lr_bench_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(base_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    await admin.dispose()
    url = base_url.rsplit("/", 1)[0] + "/" + name
    await asyncio.to_thread(upgrade, url)
    return url


async def drop_database(base_url: str, url: str) -> None:
    name = url.rsplit("/", 1)[1]
    admin = create_async_engine(base_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await admin.dispose()


async def delete_topics(bootstrap: str, names: list[str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        doomed = [n for n in names if n in existing]
        if doomed:
            await admin.delete_topics(doomed)
    finally:
        await admin.close()


async def create_topics_and_wait(runtime, timeout_s: float = 30.0) -> None:
    """Creates the pipeline's topics up front (as `leadrelay topics ensure` does) and waits until
    every partition has a leader, so consumers don't start against half-created topics."""
    await ensure_topics(runtime)
    settings = runtime.settings
    names = [settings.topic_prefix + name for name in all_topics()]
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            described = await admin.describe_topics(names)
            if all(t["error_code"] == 0 and t["partitions"] and all(p["leader"] >= 0 for p in t["partitions"])
                   for t in described):
                return
            if time.monotonic() > deadline:
                raise RuntimeError("the pipeline's topics have no leaders after 30 s")
            await asyncio.sleep(0.1)
    finally:
        await admin.close()


async def lead_states(runtime, lead_ids: list[str]) -> dict[str, str]:
    async with runtime.store.read() as uow:
        rows = (await uow.tx.conn.execute(
            select(schema.leads.c.lead_id, schema.leads.c.state).where(schema.leads.c.lead_id.in_(lead_ids))
        )).all()
    return {row.lead_id: row.state for row in rows}


async def wait_routed(runtime, lead_ids: list[str], timeout_s: float, label: str) -> int:
    """Waits until every lead is assigned or queued; returns how many are not (after the timeout)."""
    deadline = time.monotonic() + timeout_s
    with progress_bar() as progress:
        task = progress.add_task(label, total=len(lead_ids))
        while True:
            done = 0
            for chunk in range(0, len(lead_ids), 1000):
                states = await lead_states(runtime, lead_ids[chunk:chunk + 1000])
                done += sum(1 for s in states.values() if s in ("assigned", "queued"))
            progress.update(task, completed=done)
            if done >= len(lead_ids) or time.monotonic() > deadline:
                return len(lead_ids) - done
            await asyncio.sleep(0.2)


async def pipeline(settings: Settings, rate: float, seconds: float, sink_url: str | None) -> PipelineResult:
    runtime = build_runtime(settings)
    policy = bundled_policy_text()
    if sink_url:
        policy = policy_with_chat_sink(policy, sink_url)
    try:
        await apply_policy(runtime, policy, "bench")
        key = await create_source(runtime, "bench")
        await create_topics_and_wait(runtime)
    except BaseException:
        await runtime.store.dispose()
        raise
    stop = asyncio.Event()
    services = asyncio.create_task(run_services(runtime, ("scoring", "router", "notifier"), stop))
    run = uuid.uuid4().hex[:6]
    headers = {"Authorization": f"Bearer {key}"}
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=build_app(runtime)), base_url="http://bench")
    try:
        # Warm-up (not measured): consumer groups join, producers get their ids, pools fill.
        warm = []
        for i in range(5):
            response = await client.post("/v1/leads", headers=headers, json=lead_body("warm" + run, i))
            response.raise_for_status()
            warm.append(response.json()["lead_id"])
        if await wait_routed(runtime, warm, 60, "warm-up (consumer groups joining)"):
            raise RuntimeError("the warm-up leads were not routed within 60 s: is the pipeline running?")

        count = int(rate * seconds)
        post = Dist("POST 202")
        accepted: list[str] = []
        failures: dict[int, int] = {}
        pending: set[asyncio.Task] = set()

        async def send(i: int) -> None:
            started = time.perf_counter()
            response = await client.post("/v1/leads", headers=headers, json=lead_body(run, i))
            post.values.append((time.perf_counter() - started) * 1000)
            if response.status_code == 202:
                accepted.append(response.json()["lead_id"])
            else:
                failures[response.status_code] = failures.get(response.status_code, 0) + 1

        def fire(i: int) -> None:
            task = asyncio.create_task(send(i))
            pending.add(task)
            task.add_done_callback(pending.discard)

        started = time.perf_counter()
        with progress_bar() as progress:
            lag = await paced(count, rate, fire, progress, f"posting leads at {rate:g}/s")
        await asyncio.gather(*pending)
        if failures:
            console.print(f"[yellow]non-202 answers: {failures}[/yellow]")
        unfinished = await wait_routed(runtime, accepted, max(60.0, seconds * 3), "waiting for routing")
        elapsed = time.perf_counter() - started
        # Let the sender deliver the last messages before reading delivery times.
        await asyncio.sleep(2.0)

        assigned, routed, notified = Dist("assigned"), Dist("routed"), Dist("notified")
        queued = 0
        async with runtime.store.read() as uow:
            for chunk in range(0, len(accepted), 1000):
                ids = accepted[chunk:chunk + 1000]
                leads = (await uow.tx.conn.execute(
                    select(schema.leads.c.lead_id, schema.leads.c.received_at, schema.leads.c.assigned_at,
                           schema.leads.c.state).where(schema.leads.c.lead_id.in_(ids))
                )).all()
                decided = dict((await uow.tx.conn.execute(
                    select(schema.decisions.c.lead_id, schema.decisions.c.decided_at)
                    .where(schema.decisions.c.lead_id.in_(ids))
                )).all())
                sent = dict((await uow.tx.conn.execute(
                    select(schema.deliveries.c.lead_id, schema.deliveries.c.sent_at)
                    .where(schema.deliveries.c.lead_id.in_(ids), schema.deliveries.c.state == "sent",
                           schema.deliveries.c.kind.in_(("assigned", "fallback")))
                )).all())
                for lead in leads:
                    if lead.assigned_at is not None:
                        assigned.values.append((lead.assigned_at - lead.received_at).total_seconds() * 1000)
                    if lead.state == "queued":
                        queued += 1
                    if lead.lead_id in decided:
                        routed.values.append((decided[lead.lead_id] - lead.received_at).total_seconds() * 1000)
                    if sent.get(lead.lead_id) is not None:
                        notified.values.append((sent[lead.lead_id] - lead.received_at).total_seconds() * 1000)
        return PipelineResult(count, len(accepted), post, assigned, routed, notified, queued, unfinished, lag,
                              elapsed)
    finally:
        await client.aclose()
        stop.set()
        await asyncio.wait_for(services, 30)


# -- report --------------------------------------------------------------------------------------


def fmt(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.1f}"


def report(args: argparse.Namespace, acks: Dist, hops: Dist, commits: Dist, result: PipelineResult) -> None:
    out = Console(width=110)
    k_ack, k_hop, pg = acks.summary(), hops.summary(), commits.summary()
    # The critical path from intake's clock to the router's clock: two Kafka hops (intake →
    # scoring, relay → router) and one commit (scoring's), plus the queries in between.
    design = {q: 2 * k_hop[q] + pg[q] for q in ("p50", "p99")}
    table = Table(title=f"Leadrelay distributed pipeline, {args.rate:g} leads/s for {args.seconds:g} s "
                        "(milliseconds)", title_justify="left")
    for column in ("measure", "n", "p50", "p95", "p99", "max", "p50 ÷ floor"):
        table.add_column(column, justify="left" if column == "measure" else "right")

    def row(name: str, s: dict[str, float], floor: float | None = None, style: str | None = None) -> None:
        ratio = "" if floor is None or not floor else f"{s['p50'] / floor:.1f}×"
        table.add_row(name, str(s["n"]), fmt(s["p50"]), fmt(s["p95"]), fmt(s["p99"]), fmt(s["max"]), ratio,
                      style=style)

    row("floor: Kafka produce → ack (acks=all)", k_ack, style="dim")
    row("floor: Kafka hop, produce → consumed", k_hop, style="dim")
    row("floor: PostgreSQL INSERT + COMMIT", pg, style="dim")
    table.add_row("floor: design path (2 hops + 1 commit)", "", fmt(design["p50"]), "", fmt(design["p99"]), "", "",
                  style="dim")
    row("POST /v1/leads → 202", result.post.summary(), k_ack["p50"])
    row("received_at → assigned_at", result.assigned.summary(), design["p50"], style="bold")
    row("received_at → routed (assigned or queued)", result.routed.summary(), design["p50"])
    if result.notified.values:
        row("received_at → chat message delivered", result.notified.summary(), design["p50"])
    out.print(table)
    figure("POST → 202 p99", result.post.summary()["p99"], "ms", better="lower",
           floor_name="Kafka produce → ack p99", floor=k_ack["p99"])
    figure("received → assigned p99", result.assigned.summary()["p99"], "ms", better="lower",
           floor_name="design path p99 (2 hops + 1 commit)", floor=design["p99"])
    if result.notified.values:
        figure("received → chat p99", result.notified.summary()["p99"], "ms", better="lower",
               floor_name="design path p99 (2 hops + 1 commit)", floor=design["p99"])
    if result.elapsed_s:
        figure(f"sustained at {args.rate:g} offered", result.accepted / result.elapsed_s, "leads/s",
               floor_name="offered leads/s", floor=args.rate)
    out.print(f"{result.posted} leads posted, {result.accepted} answered 202; {len(result.assigned.values)} assigned, "
              f"{result.queued} queued by the policy (capacity / fallback), {result.unfinished} not routed in time.")
    throughput = result.accepted / result.elapsed_s if result.elapsed_s else math.nan
    out.print(f"Offered {args.rate:g} leads/s for {args.seconds:g} s; the last was routed {result.elapsed_s:.1f} s "
              f"after the first post ({throughput:.1f} leads/s overall); "
              f"worst pacing lag {result.worst_pacing_lag_ms:.0f} ms.")
    if result.elapsed_s > args.seconds * 1.1 + 1.0:
        out.print(f"[yellow]The pipeline did not keep up with {args.rate:g}/s on this machine: the latencies above "
                  "are mostly queueing behind the backlog. Try a lower --rate to see the latency below "
                  "saturation.[/yellow]")


async def main_async(args: argparse.Namespace) -> None:
    kafka = args.kafka
    base_db = required_env("LEADRELAY_TEST_DATABASE_URL")
    run = uuid.uuid4().hex[:8]
    prefix = f"bench{run}."
    floor_topic = f"bench{run}.floor"
    console.print(f"scratch database + topics prefix [bold]{prefix}[/bold] on {kafka}")
    url = await scratch_database(base_db)
    sink = None
    try:
        acks, hops = await kafka_floor(kafka, floor_topic, args.floor_messages, args.rate)
        commits = await postgres_floor(url.replace("postgresql+asyncpg://", "postgresql://", 1), args.floor_messages)
        sink_url = None
        if not args.no_chat_sink:
            sink, sink_url = start_chat_sink()
        settings = Settings(mode="distributed", database_url=url, kafka_bootstrap=kafka, topic_prefix=prefix,
                            kafka_partitions=args.partitions, identity_salt=f"bench-{run}",
                            link_secret=f"bench-link-secret-{run}",
                            public_url="http://leadrelay.bench")
        result = await pipeline(settings, args.rate, args.seconds, sink_url)
        report(args, acks, hops, commits, result)
    finally:
        if sink is not None:
            sink.terminate()
            sink.wait()
        try:
            await drop_database(base_db, url)
        except Exception as exc:  # the caller's error matters more; say what is left behind
            console.print(f"[yellow]could not drop {url.rsplit('/', 1)[1]}: {exc!r}[/yellow]")
        try:
            await delete_topics(kafka, [floor_topic] + [prefix + name for name in all_topics()])
        except Exception as exc:
            console.print(f"[yellow]could not delete the topics {prefix}*: {exc!r}[/yellow]")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=50.0, help="leads per second, open loop (default 50)")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long to post (default 20)")
    parser.add_argument("--floor-messages", type=int, default=500, help="messages / commits per floor (default 500)")
    parser.add_argument("--partitions", type=int, default=6, help="partitions per pipeline topic (default 6)")
    parser.add_argument("--no-chat-sink", action="store_true",
                        help="keep the example policy's placeholder webhooks (deliveries then fail and retry)")
    args = parser.parse_args()
    if args.rate <= 0 or args.seconds <= 0:
        parser.error("--rate and --seconds must be positive")
    args.kafka = required_env("LEADRELAY_TEST_KAFKA")
    # Warnings and errors only; the relay, consumers and sender log at info per event otherwise.
    logs.configure("WARNING", json_lines=False)
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    run_async(main_async(args))


if __name__ == "__main__":
    main()
