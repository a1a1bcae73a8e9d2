"""Sustained leads/s of the distributed pipeline with 1, 2 and 4 scoring and router replicas, each
a real ``leadrelay serve`` process, and the CPU every process group used while it ran.

    eval "$(bash deploy/up.sh)"
    python bench/kafka_replicas.py [--leads 2000] [--replicas 1,2,4] [--partitions 8]

For each replica count N, from scratch (a new database migrated with alembic, topics under a
unique prefix with ``--partitions`` partitions each, so every one of 4 replicas holds some):
N ``serve scoring`` and N ``serve router`` processes, one ``serve notifier`` and one
``serve relay``, configured as an operator would (``LEADRELAY_*`` variables, as bench/chaos.py
does). The policy has 16 teams of 4 reps, one round-robin rule per team keyed on the lead's
country, and the leads are spread evenly over the 16 countries: router replicas decide over
disjoint pools and do not take turns on one pool's rows (bench/routing_replicas.py measures
that case). The reps' chat webhooks point at a local sink answering Slack's ``ok``.

The bench waits until every consumer group has settled (each process's ``/metrics`` lists the
partitions it holds; every partition held, by exactly one process, each process holding some),
routes a few warm-up leads, then posts ``--leads`` leads as fast as intake takes them (the real
intake app in this process, over httpx's ASGI transport, ``--concurrency`` clients) and waits
until every one is assigned or queued. The rate is read from the database alone::

    sustained leads/s = leads / (max(decisions.decided_at) - min(leads.received_at))

CPU: utime + stime of each process from ``/proc/<pid>/stat`` over the measured window, per
group, beside the whole machine's busy time (``/proc/stat``), so the report can say whether the
cores were the limit. ``blocked (PG)`` samples how many of the run database's sessions wait on a
lock (``pg_stat_activity``, every 50 ms): near 0 means the replicas did not wait on each other.

Everything shares the machine: Kafka, PostgreSQL, the replicas, this process (intake and the
clients), and on a dev VM whatever else runs. On 2 cores the curve flattens as soon as the
cores are busy; the CPU table says when.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.figures import figure  # noqa: E402
from bench.kafka_pipeline import (  # noqa: E402
    create_topics_and_wait,
    delete_topics,
    drop_database,
    kafka_floor,
    pct,
    required_env,
    scratch_database,
)
from bench.workload import lead_body, start_chat_sink  # noqa: E402
from leadrelay.shared import logging as logs  # noqa: E402
from leadrelay.shared.adapters.sql import schema  # noqa: E402
from leadrelay.shared.settings import Settings  # noqa: E402
from leadrelay.shared.shell.bootstrap import apply_policy, build_app, build_runtime, create_source  # noqa: E402
from leadrelay.shared.topics import all_topics  # noqa: E402

console = Console(stderr=True)
# One team per country; the leads are spread evenly over them (disjoint pools).
COUNTRIES = ("CN", "JP", "US", "DE", "GB", "BR", "FR", "IT", "ES", "KR", "IN", "AU", "CA", "MX", "NL", "SE")
REPS_PER_TEAM = 4
ROUTED = ("assigned", "queued", "held", "pool")  # every state a routing decision leaves
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
LAG_LINE = re.compile(r'^leadrelay_consumer_lag\{(?P<labels>[^}]*)\}', re.MULTILINE)


def log(message: str) -> None:
    console.print(f"[dim]{time.strftime('%H:%M:%S')}[/dim] {message}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def policy_document(sink_url: str) -> str:
    """16 teams × 4 reps, always on shift, no caps; a round-robin rule per team on the country.
    JSON is YAML, so the document goes through the same loader as any policy file."""
    def chat(who: str) -> dict:
        return {"platform": "slack", "webhook": f"{sink_url}/services/T000/B000/{who}"}

    teams = [{"name": f"team-{c.lower()}", "manager": f"mgr-{c.lower()}"} for c in COUNTRIES]
    managers = [{"id": f"mgr-{c.lower()}", "chat": chat(f"mgr-{c.lower()}")} for c in COUNTRIES]
    reps = [{"id": f"rep-{c.lower()}-{m}", "team": f"team-{c.lower()}", "timezone": "UTC",
             "working_hours": {"days": ["mon-sun"], "start": "00:00", "end": "24:00"},
             "chat": chat(f"rep-{c.lower()}-{m}")}
            for c in COUNTRIES for m in range(REPS_PER_TEAM)]
    rules = [{"name": f"team-{c.lower()}", "when": {"country": c}, "strategy": "round_robin",
              "pool": {"team": f"team-{c.lower()}"}} for c in COUNTRIES]
    # Wall-clock SLA of a day: no reminder fires during a run, so the routers only route.
    sla = {"clock": "wall", "first_touch": {"hot": "1d", "warm": "1d", "cold": "1d"}}
    return json.dumps({"timezone": "UTC", "sla": sla, "teams": teams, "managers": managers, "reps": reps,
                       "rules": rules})


def bench_lead(run: str, i: int) -> dict:
    body = lead_body(run, i)
    body.pop("region", None)
    body["country"] = COUNTRIES[i % len(COUNTRIES)]
    return body


# -- CPU -------------------------------------------------------------------------------------------


def process_cpu_s(pid: int) -> float:
    """utime + stime of a process, in seconds (0 once it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()  # after "pid (comm)": field 3 (state) is fields[0]
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def shared_servers_cpu() -> dict[str, dict[int, float]]:
    """CPU seconds per pid of the shared servers on this machine: every ``postgres`` process
    (all its databases, not only this run's) and the Kafka broker (a ``java`` process with
    ``kafka`` on its command line)."""
    found: dict[str, dict[int, float]] = {"PostgreSQL server (all databases)": {}, "Kafka broker": {}}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            comm = (entry / "comm").read_text().strip()
            if comm == "postgres":
                group = "PostgreSQL server (all databases)"
            elif comm == "java" and b"kafka" in (entry / "cmdline").read_bytes().lower():
                group = "Kafka broker"
            else:
                continue
        except OSError:
            continue
        found[group][int(entry.name)] = process_cpu_s(int(entry.name))
    return found


def servers_delta(before: dict[str, dict[int, float]], after: dict[str, dict[int, float]]) -> dict[str, float]:
    """CPU used between two snapshots; a process started in between counts whole, one that ended
    in between is lost (so these are lower bounds)."""
    return {group: sum(cpu - before[group].get(pid, 0.0) for pid, cpu in pids.items())
            for group, pids in after.items()}


def machine_cpu_s() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, all cores."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    total = sum(values[:8])  # guest time is already counted in user
    return (total - idle) / CLOCK_TICKS, total / CLOCK_TICKS


# -- the processes ---------------------------------------------------------------------------------


@dataclass
class Services:
    """The ``leadrelay serve`` processes of one replica count; their logs under ``logs``."""

    env: dict[str, str]
    logs: Path
    groups: dict[str, list[tuple[subprocess.Popen, int]]] = field(default_factory=dict)  # name -> (process, port)

    def start(self, service: str, index: int) -> None:
        port = free_port()
        log_file = (self.logs / f"{service}-{index}.log").open("ab")
        process = subprocess.Popen([sys.executable, "-m", "leadrelay.shared.shell.cli", "serve", service],
                                   env={**self.env, "LEADRELAY_METRICS_PORT": str(port)}, cwd=REPO,
                                   stdout=subprocess.DEVNULL, stderr=log_file)
        log_file.close()
        self.groups.setdefault(service, []).append((process, port))

    def all(self) -> list[tuple[str, int, subprocess.Popen]]:
        return [(name, n, process) for name, members in self.groups.items() for n, (process, _) in enumerate(members)]

    def check_alive(self) -> None:
        for name, n, process in self.all():
            if process.poll() is not None:
                tail = (self.logs / f"{name}-{n}.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"serve {name} #{n} exited with {process.returncode}:\n{tail}")

    def cpu(self) -> dict[str, float]:
        return {name: sum(process_cpu_s(process.pid) for process, _ in members) for name, members in self.groups.items()}

    def stop_all(self) -> None:
        processes = [process for _, _, process in self.all() if process.poll() is None]
        for process in processes:
            process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 20
        for process in processes:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


def held_partitions(metrics_text: str) -> set[int]:
    """The partitions a consumer process reports lag for: the ones it holds now."""
    held = set()
    for match in LAG_LINE.finditer(metrics_text):
        labels = dict(re.findall(r'(\w+)="([^"]*)"', match["labels"]))
        held.add(int(labels["partition"]))
    return held


async def wait_groups_settled(services: Services, partitions: int, timeout_s: float) -> None:
    """Until, twice in a row a second apart, each consumer group's processes hold every partition
    between them, none twice, and each process some: every replica joined, the rebalance done."""
    names = [name for name in ("scoring", "router", "notifier") if name in services.groups]
    deadline = time.monotonic() + timeout_s
    settled_once = False
    async with httpx.AsyncClient(timeout=2.0) as client:
        while True:
            services.check_alive()
            settled = True
            for name in names:
                held: list[set[int]] = []
                for _, port in services.groups[name]:
                    try:
                        response = await client.get(f"http://127.0.0.1:{port}/metrics")
                        held.append(held_partitions(response.text))
                    except httpx.HTTPError:
                        held.append(set())  # not serving yet
                union = set().union(*held)
                if (union != set(range(partitions)) or sum(len(h) for h in held) != partitions
                        or not all(held)):
                    settled = False
            if settled and settled_once:
                return
            settled_once = settled
            if time.monotonic() > deadline:
                raise RuntimeError(f"the consumer groups did not settle within {timeout_s:.0f} s "
                                   f"(logs: {services.logs})")
            await asyncio.sleep(1.0)


# -- one replica count -----------------------------------------------------------------------------


@dataclass
class Outcome:
    replicas: int
    posted: int
    accepted: int
    assigned: int
    queued: int
    unfinished: int
    post_s: float  # first post to the last 202
    window_s: float  # first post until this process saw every lead routed (the CPU window)
    routed_s: float  # from the database: first received_at to the last decided_at
    cpu: dict[str, float]  # group -> CPU seconds in the window
    machine_busy_s: float
    machine_total_s: float
    blocked: float  # mean sessions of the run database waiting on a lock
    lock_waits: Counter  # "wait event: statement" -> samples
    post_p99_ms: float
    load: tuple[float, float, float]

    @property
    def rate(self) -> float:
        return self.accepted / self.routed_s if self.routed_s > 0 else 0.0


async def count_routed(runtime, exclude: list[str]) -> int:
    async with runtime.store.read() as uow:
        return (await uow.tx.conn.execute(
            select(func.count()).select_from(schema.leads)
            .where(schema.leads.c.state.in_(ROUTED), schema.leads.c.lead_id.not_in(exclude))
        )).scalar_one()


async def wait_routed(runtime, services: Services, exclude: list[str], want: int, timeout_s: float) -> int:
    """Polls the database until ``want`` leads (not in ``exclude``) are routed; returns how many are not."""
    deadline = time.monotonic() + timeout_s
    last_report = time.monotonic()
    while True:
        done = await count_routed(runtime, exclude)
        if done >= want or time.monotonic() > deadline:
            return max(0, want - done)
        services.check_alive()
        if time.monotonic() - last_report > 10:
            log(f"  {done}/{want} routed")
            last_report = time.monotonic()
        await asyncio.sleep(0.1)


async def sample_lock_waits(dsn: str, stop: asyncio.Event, samples: list[int], waits: Counter) -> None:
    """Every 50 ms: how many of the run database's sessions wait on a lock, and on what
    (the wait event and the start of the waiting statement)."""
    conn = await asyncpg.connect(dsn)
    try:
        while not stop.is_set():
            rows = await conn.fetch(
                "SELECT wait_event, left(regexp_replace(query, '\\s+', ' ', 'g'), 70) AS query "
                "FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'")
            samples.append(len(rows))
            waits.update(f"{row['wait_event']}: {row['query']}" for row in rows)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.05)
    finally:
        await conn.close()


def service_env(settings: Settings) -> dict[str, str]:
    # Nothing of the caller's own LEADRELAY_* configuration may leak into the services.
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADRELAY_") or k.startswith("LEADRELAY_TEST_")}
    env.update({"LEADRELAY_MODE": "distributed", "LEADRELAY_DATABASE_URL": settings.database_url or "",
                "LEADRELAY_KAFKA_BOOTSTRAP": settings.kafka_bootstrap, "LEADRELAY_TOPIC_PREFIX": settings.topic_prefix,
                "LEADRELAY_KAFKA_PARTITIONS": str(settings.kafka_partitions),
                "LEADRELAY_IDENTITY_SALT": settings.identity_salt, "LEADRELAY_LINK_SECRET": settings.link_secret or "",
                "LEADRELAY_PUBLIC_URL": "http://leadrelay.bench", "LEADRELAY_LOG_LEVEL": "WARNING",
                "PYTHONUNBUFFERED": "1"})
    return env


async def one_count(args: argparse.Namespace, n: int, run: str, policy: str, work: Path, sink_pid: int) -> Outcome:
    base_db = args.database_url
    url = await scratch_database(base_db)
    prefix = f"bench{run}n{n}."
    settings = Settings(mode="distributed", database_url=url, kafka_bootstrap=args.kafka, topic_prefix=prefix,
                        kafka_partitions=args.partitions, identity_salt=f"bench-{run}",
                        link_secret=f"bench-link-secret-{run}", public_url="http://leadrelay.bench")
    logs_dir = work / f"n{n}"
    logs_dir.mkdir()
    services = Services(service_env(settings), logs_dir)
    runtime = build_runtime(settings)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=build_app(runtime)), base_url="http://bench")
    try:
        await apply_policy(runtime, policy, "bench")
        key = await create_source(runtime, "bench")
        await create_topics_and_wait(runtime)
        for service, count in (("scoring", n), ("router", n), ("notifier", 1), ("relay", 1)):
            for index in range(count):
                services.start(service, index)
        log(f"N={n}: started {n} scoring + {n} router + notifier + relay; waiting for the consumer groups")
        await wait_groups_settled(services, args.partitions, 180)
        headers = {"Authorization": f"Bearer {key}"}

        warm: list[str] = []
        for i in range(args.warmup):
            response = await client.post("/v1/leads", headers=headers, json=bench_lead("warm" + run, i))
            response.raise_for_status()
            warm.append(response.json()["lead_id"])
        if await wait_routed(runtime, services, [], len(warm), 120):
            raise RuntimeError("the warm-up leads were not routed within 120 s")
        log(f"N={n}: groups settled, {len(warm)} warm-up leads routed; posting {args.leads} leads")

        accepted: list[str] = []
        latencies: list[float] = []
        failures: dict[int, int] = {}
        next_index = iter(range(args.leads))

        async def client_loop() -> None:
            for i in next_index:
                started = time.perf_counter()
                response = await client.post("/v1/leads", headers=headers, json=bench_lead(run, i))
                latencies.append((time.perf_counter() - started) * 1000)
                if response.status_code == 202:
                    accepted.append(response.json()["lead_id"])
                else:
                    failures[response.status_code] = failures.get(response.status_code, 0) + 1

        lock_samples: list[int] = []
        lock_waits: Counter = Counter()
        stop_sampling = asyncio.Event()
        sampler = asyncio.create_task(sample_lock_waits(url.replace("postgresql+asyncpg://", "postgresql://", 1),
                                                        stop_sampling, lock_samples, lock_waits))
        load = os.getloadavg()
        servers_before, sink_before = shared_servers_cpu(), process_cpu_s(sink_pid)
        cpu_before, machine_before, own_before = services.cpu(), machine_cpu_s(), time.process_time()
        started = time.perf_counter()
        await asyncio.gather(*(client_loop() for _ in range(args.concurrency)))
        post_s = time.perf_counter() - started
        if failures:
            console.print(f"[yellow]non-202 answers: {failures}[/yellow]")
        unfinished = await wait_routed(runtime, services, warm, len(accepted), args.timeout)
        window_s = time.perf_counter() - started
        cpu_after, machine_after, own_after = services.cpu(), machine_cpu_s(), time.process_time()
        servers_after, sink_after = shared_servers_cpu(), process_cpu_s(sink_pid)
        stop_sampling.set()
        await sampler

        cpu = {name: cpu_after[name] - cpu_before[name] for name in cpu_after}
        cpu["bench process (intake, clients)"] = own_after - own_before
        cpu["chat sink"] = sink_after - sink_before
        cpu.update(servers_delta(servers_before, servers_after))
        async with runtime.store.read() as uow:
            conn = uow.tx.conn
            first = (await conn.execute(select(func.min(schema.leads.c.received_at))
                                        .where(schema.leads.c.lead_id.not_in(warm)))).scalar_one()
            last = (await conn.execute(select(func.max(schema.decisions.c.decided_at))
                                       .where(schema.decisions.c.lead_id.not_in(warm)))).scalar_one()
            states = dict((await conn.execute(
                select(schema.leads.c.state, func.count()).where(schema.leads.c.lead_id.not_in(warm))
                .group_by(schema.leads.c.state))).all())
        routed_s = (last - first).total_seconds() if first and last else 0.0
        return Outcome(n, args.leads, len(accepted), states.get("assigned", 0), states.get("queued", 0), unfinished,
                       post_s, window_s, routed_s, cpu, machine_after[0] - machine_before[0],
                       machine_after[1] - machine_before[1],
                       sum(lock_samples) / max(1, len(lock_samples)), lock_waits, pct(sorted(latencies), 0.99),
                       load)
    finally:
        await client.aclose()
        services.stop_all()
        await runtime.bus.stop()
        await runtime.store.dispose()
        try:
            await drop_database(base_db, url)
        except Exception as exc:  # the run's own error matters more; say what is left behind
            console.print(f"[yellow]could not drop {url.rsplit('/', 1)[1]}: {exc!r}[/yellow]")
        try:
            await delete_topics(args.kafka, [prefix + name for name in all_topics()])
        except Exception as exc:
            console.print(f"[yellow]could not delete the topics {prefix}*: {exc!r}[/yellow]")


# -- report ----------------------------------------------------------------------------------------


GROUPS = ("scoring", "router", "notifier", "relay", "bench process (intake, clients)", "chat sink",
          "PostgreSQL server (all databases)", "Kafka broker")


def report(args: argparse.Namespace, outcomes: list[Outcome], hop: tuple[float, float] | None) -> None:
    out = Console(width=120)
    cores = os.cpu_count() or 1
    base = next((o.rate for o in outcomes if o.replicas == 1), None)
    table = Table(title=f"Sustained leads/s, {args.leads} leads posted as fast as intake takes them, "
                        f"{args.partitions} partitions per topic, {cores} cores", title_justify="left")
    for column in ("replicas (scoring + router)", "routed leads/s", "× 1 replica", "intake 202/s", "POST p99 ms",
                   "assigned / queued / not routed", "machine CPU busy", "blocked (PG)", "load avg before"):
        table.add_column(column, justify="left" if column.startswith("replicas") else "right")
    for o in outcomes:
        table.add_row(f"{o.replicas} + {o.replicas}", f"{o.rate:.1f}", f"{o.rate / base:.2f}×" if base else "",
                      f"{o.accepted / o.post_s:.0f}" if o.post_s else "", f"{o.post_p99_ms:.0f}",
                      f"{o.assigned} / {o.queued} / {o.unfinished}",
                      f"{100 * o.machine_busy_s / o.machine_total_s:.0f} %" if o.machine_total_s else "",
                      f"{o.blocked:.2f}", " ".join(f"{v:.1f}" for v in o.load))
    out.print(table)

    cpu_table = Table(title="CPU seconds in the measured window (first post → all routed), per process group",
                      title_justify="left")
    cpu_table.add_column("process group")
    for o in outcomes:
        cpu_table.add_column(f"N={o.replicas}: CPU s", justify="right")
        cpu_table.add_column("share", justify="right")
        cpu_table.add_column("ms/lead", justify="right")

    def cells(o: Outcome, seconds: float) -> list[str]:
        capacity = o.window_s * cores
        return [f"{seconds:.1f}", f"{100 * seconds / capacity:.0f} %" if capacity else "",
                f"{1000 * seconds / o.accepted:.1f}" if o.accepted else ""]

    for group in GROUPS:
        cpu_table.add_row(group, *[c for o in outcomes for c in cells(o, o.cpu.get(group, 0.0))])
    cpu_table.add_row("everything else (other work on the machine)",
                      *[c for o in outcomes for c in cells(o, max(0.0, o.machine_busy_s - sum(o.cpu.values())))])
    cpu_table.add_row("whole machine, busy", *[c for o in outcomes for c in cells(o, o.machine_busy_s)], style="bold")
    out.print(cpu_table)
    out.print(f"share = CPU seconds ÷ (window × {cores} cores); window = first post until every lead was seen "
              "routed. The rate above is from the database: leads ÷ (last decided_at − first received_at).")
    if hop:
        out.print(f"Context, same run: a bare Kafka hop (idempotent acks=all produce → consumed, "
                  f"{args.floor_messages} messages at {args.floor_rate:g}/s, bench/kafka_pipeline.py's floor): "
                  f"p50 {hop[0]:.1f} ms, p99 {hop[1]:.1f} ms.")

    for o in outcomes:
        figure(f"sustained leads/s, {o.replicas} scoring + {o.replicas} router replicas", o.rate, "leads/s",
               floor_name="1 replica" if base else None, floor=base)
    for o in outcomes:
        if o.machine_total_s:
            figure(f"machine CPU busy, {o.replicas} + {o.replicas} replicas",
                   100 * o.machine_busy_s / o.machine_total_s, "%", floor_name="all cores", floor=100.0,
                   note=f"replicas' own share {100 * (o.cpu.get('scoring', 0) + o.cpu.get('router', 0)) / (o.window_s * cores):.0f} %")
    for o in outcomes:
        if o.lock_waits:
            total = sum(o.lock_waits.values())
            out.print(f"N={o.replicas}, what the lock waits were (share of {total} waiting-session samples):")
            for what, count in o.lock_waits.most_common(4):
                out.print(f"    {100 * count / total:3.0f} %  {what}")
    out.print(verdict(outcomes))


def verdict(outcomes: list[Outcome]) -> str:
    """What the numbers say: how the rate grows with N, and whether the cores or a lock were the limit."""
    lines = []
    previous: Outcome | None = None
    ours = ("scoring", "router", "notifier", "relay", "bench process (intake, clients)", "chat sink")
    for o in outcomes:
        busy = o.machine_busy_s / o.machine_total_s if o.machine_total_s else 0.0
        capacity = o.window_s * (os.cpu_count() or 1)

        def share(seconds: float, capacity: float = capacity) -> str:
            return f"{100 * seconds / capacity:.0f} %" if capacity else "?"

        servers = (o.cpu.get("PostgreSQL server (all databases)", 0.0), o.cpu.get("Kafka broker", 0.0))
        leadrelay = sum(o.cpu.get(group, 0.0) for group in ours)
        said = f"N={o.replicas}: {o.rate:.1f} leads/s"
        if previous is not None:
            said += f" ({o.rate / previous.rate:.2f}× N={previous.replicas})" if previous.rate else ""
        said += (f"; the cores were {100 * busy:.0f} % busy (Leadrelay's processes {share(leadrelay)}, "
                 f"PostgreSQL {share(servers[0])}, Kafka {share(servers[1])}, other work "
                 f"{share(max(0.0, o.machine_busy_s - leadrelay - sum(servers)))})")
        lines.append(said + ".")
        previous = o
    saturated = [o for o in outcomes if o.machine_total_s and o.machine_busy_s / o.machine_total_s >= 0.85]
    if saturated:
        lines.append(f"From N={saturated[0].replicas} on, the machine's {os.cpu_count()} cores were at least 85 % busy: "
                     "more replicas there can only share the same CPU, so the curve flattens on the CPU.")
    else:
        lines.append("The cores were never 85 % busy: where the rate stops growing, the limit is elsewhere "
                     "(the lock waits below, or replicas without partitions).")
    others = [o for o in outcomes if o.machine_total_s and (o.machine_busy_s - sum(o.cpu.values()))
              / (o.window_s * (os.cpu_count() or 1)) > 0.2]
    if others:
        lines.append("Other work used more than a fifth of the cores during "
                     + ", ".join(f"N={o.replicas}" for o in others)
                     + ": the machine was shared, so the absolute rates are low and the speed-ups noisy.")
    for o in outcomes:
        if o.replicas < 2:
            continue
        # A sampled session waiting on a lock is a replica not working. While one replica holds
        # the rows, at most N - 1 can wait for it: blocked / (N - 1) near 1 means they took turns.
        queueing = o.blocked / o.replicas
        turns = o.blocked / (o.replicas - 1)
        top = o.lock_waits.most_common(1)[0][0] if o.lock_waits else ""
        if queueing >= 0.2:
            lines.append(f"N={o.replicas}: {o.blocked:.2f} sessions waited on a lock on average, {100 * queueing:.0f} % "
                         f"of {o.replicas} replicas' time and {100 * turns:.0f} % of the most that can wait "
                         f"(N − 1) (mostly {top}): the replicas took turns on each other's rows, so part of the "
                         "flattening is a lock, not the CPU.")
        else:
            lines.append(f"N={o.replicas}: {o.blocked:.2f} sessions waited on a lock on average "
                         f"({100 * queueing:.0f} % of {o.replicas} replicas' time): not a lock.")
    if any(o.unfinished for o in outcomes):
        lines.append("[yellow]Some leads were not routed within --timeout: the rate above is for those routed.[/yellow]")
    return "\n".join(lines)


async def main_async(args: argparse.Namespace) -> None:
    # SIGTERM (a stopped report run) cleans up like Ctrl-C: processes, topics and databases.
    main_task = asyncio.current_task()
    assert main_task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main_task.cancel)
    run = uuid.uuid4().hex[:8]
    console.print(f"topics under [bold]bench{run}n<N>.[/bold] on {args.kafka}; a scratch database per N")
    sink, sink_url = start_chat_sink()
    hop = None
    floor_topic = f"bench{run}.floor"
    outcomes: list[Outcome] = []
    try:
        with tempfile.TemporaryDirectory(prefix="kafka-replicas-") as work:
            if args.floor_messages:
                _, hops = await kafka_floor(args.kafka, floor_topic, args.floor_messages, args.floor_rate)
                ordered = sorted(hops.values)
                hop = (pct(ordered, 0.5), pct(ordered, 0.99))
            policy = policy_document(sink_url)
            for n in args.replicas:
                try:
                    outcomes.append(await one_count(args, n, run, policy, Path(work), sink.pid))
                except Exception:
                    for log_file in sorted(Path(work).glob(f"n{n}/*.log")):
                        tail = log_file.read_text(errors="replace")[-1500:].strip()
                        if tail:
                            console.print(f"[dim]--- {log_file.name}[/dim]\n{tail}")
                    raise
        report(args, outcomes, hop)
    finally:
        sink.terminate()
        sink.wait()
        if args.floor_messages:
            try:
                await delete_topics(args.kafka, [floor_topic])
            except Exception as exc:
                console.print(f"[yellow]could not delete {floor_topic}: {exc!r}[/yellow]")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=2000, help="leads posted per replica count (default 2000)")
    parser.add_argument("--replicas", default="1,2,4", help="scoring and router replica counts (default 1,2,4)")
    parser.add_argument("--partitions", type=int, default=8, help="partitions per topic (default 8)")
    parser.add_argument("--concurrency", type=int, default=32, help="clients posting at once (default 32)")
    parser.add_argument("--warmup", type=int, default=16, help="unmeasured leads first (default 16)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait for routing (default 600)")
    parser.add_argument("--floor-messages", type=int, default=300,
                        help="messages of the bare Kafka hop printed for context; 0 skips it (default 300)")
    parser.add_argument("--floor-rate", type=float, default=100.0, help="their rate per second (default 100)")
    args = parser.parse_args()
    try:
        args.replicas = [int(part) for part in args.replicas.split(",")]
    except ValueError:
        parser.error("--replicas takes counts separated by commas, e.g. 1,2,4")
    if args.leads <= 0 or args.concurrency <= 0 or min(args.replicas) <= 0:
        parser.error("--leads, --concurrency and --replicas must be positive")
    if max(args.replicas) > args.partitions:
        parser.error("--partitions must be at least the largest replica count (else a replica idles)")
    args.kafka = required_env("LEADRELAY_TEST_KAFKA")
    args.database_url = required_env("LEADRELAY_TEST_DATABASE_URL")
    logs.configure("WARNING", json_lines=False)
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
