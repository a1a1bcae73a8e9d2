"""Routing decisions per second with 1, 2 and 4 router replicas on PostgreSQL, over disjoint pools
and over one shared pool, and the time each decision spent taking its locks, beside floors
measured in the same run: a bare PostgreSQL commit and a bare ``SELECT … FOR UPDATE``.

    eval "$(bash deploy/up.sh)"
    python bench/routing_replicas.py [--leads 400] [--replicas 1,2,4] [--no-before]

The policy has 20 teams of 25 reps (500 reps), one round-robin rule per team (``when`` the lead's
country is the team's). Each replica is a **process** with its own ``SqlStore`` (its own
connections) and its own ``RouterHandler``, deciding its share of the leads one after another,
as a consumer works through its partitions. Every decision is the real one: the router's
transaction locks the pool, reads its fairness state, decides, and writes the lead, its decision,
history, SLA clocks and the ``lead.assigned`` event, then commits.

Cases:

- ``disjoint pools``: leads spread over the 20 teams (as Kafka spreads persons over partitions,
  so two replicas sometimes want the same team at once);
- ``one shared pool``: every lead for the same team, so every decision wants the same rows;
- ``disjoint, one global lock``: the disjoint leads, with every decision first taking one row
  for the whole company, as the router did before per-pool locking (emulated: the old lock row,
  then the same per-pool work, so the old full-roster read is not counted: a lower bound).

``CPU ms``: the replica process's own CPU time per decision (``time.process_time``): unlike
the wall-clock rates it hardly moves with the machine's other load, so 1000 / CPU ms is what
one replica could decide per second with a core to itself (PostgreSQL's share not counted).

``lock`` is a timer around ``uow.roster.lock(...)`` in each decision: the statements' round
trips plus any wait for another replica's transaction (``time in lock``: its share of the
replicas' time). On a machine short of CPU the round trips stretch too, so ``blocked (PG)``
says what PostgreSQL itself sees: the share of the replicas' sessions found waiting on a lock
(``pg_stat_activity.wait_event_type = 'Lock'``, sampled every 10 ms). ``held ms``: from the
lock taken to the commit done, how long a decision keeps its pool's rows; one pool can take no
more than ``1 pool max/s`` = 1 / held decisions a second, however many replicas there are.

Floors (same database, same run, asyncpg, no SQLAlchemy):

- ``bare commit``: ``INSERT`` of one row + ``COMMIT``, one after another, on 1, 2 and 4
  connections at once (the replicas column): what the database and the disk give that many
  writers, so the replicas' curve can be read against the machine's;
- ``bare SELECT … FOR UPDATE``: ``BEGIN``; lock 25 rows of a table ordered by key; ``COMMIT``
  (one connection; its ``lock mean ms`` column is the whole transaction).

Everything shares the machine's cores: the replica processes, PostgreSQL, and on a dev VM
whatever else runs. Decisions/s for N replicas can rise with N only while there are cores
idle; read the lock column for what locking itself costs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing
import os
import random
import sys
import threading
import time
import traceback
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.figures import figure  # noqa: E402
from leadrelay.services.router.handler import RouterHandler  # noqa: E402
from leadrelay.shared.adapters.sql.migrate import upgrade  # noqa: E402
from leadrelay.shared.adapters.sql.roster import SqlRoster  # noqa: E402
from leadrelay.shared.adapters.sql.store import SqlStore  # noqa: E402
from leadrelay.shared.events import Envelope, LeadContact, LeadQualified  # noqa: E402
from leadrelay.shared.metrics import Metrics  # noqa: E402

console = Console(stderr=True)
TEAMS, REPS_PER_TEAM = 20, 25
ALWAYS = {"days": ["mon-sun"], "start": "00:00", "end": "24:00"}
NOW = datetime.now(UTC)  # decisions are stamped with one fixed time: no day boundary mid-run


def country(team: int) -> str:
    return f"T{team:02d}"


def policy_document() -> str:
    teams = [{"name": f"team-{n:02d}", "manager": f"mgr-{n:02d}"} for n in range(TEAMS)]
    reps = [{"id": f"rep-{n:02d}-{m:02d}", "team": f"team-{n:02d}", "working_hours": ALWAYS}
            for n in range(TEAMS) for m in range(REPS_PER_TEAM)]
    rules = [{"name": f"team-{n:02d}", "when": {"country": country(n)}, "pool": {"team": f"team-{n:02d}"}}
             for n in range(TEAMS)]
    return json.dumps({"timezone": "UTC", "teams": teams, "reps": reps, "rules": rules})


def asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


def pct(ordered: list[float], q: float) -> float:
    if not ordered:
        return math.nan
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


# -- floors ------------------------------------------------------------------------------------


async def bare_commits(dsn: str, count: int, connections: int = 1) -> float:
    """Commits/s of ``connections`` connections each committing one-row inserts back to back
    (what the database and disk give when that many replicas write at once)."""
    conns = [await asyncpg.connect(dsn) for _ in range(connections)]
    await conns[0].execute("CREATE TABLE IF NOT EXISTS bench_floor (id bigserial primary key, payload bytea)")

    async def commit(conn: asyncpg.Connection) -> None:
        for _ in range(count // connections):
            async with conn.transaction():
                await conn.execute("INSERT INTO bench_floor (payload) VALUES ($1)", b"x" * 200)

    started = time.perf_counter()
    await asyncio.gather(*(commit(conn) for conn in conns))
    elapsed = time.perf_counter() - started
    for conn in conns:
        await conn.close()
    return (count // connections) * connections / elapsed


async def bare_locks(dsn: str, count: int) -> float:
    conn = await asyncpg.connect(dsn)
    await conn.execute("CREATE TABLE IF NOT EXISTS bench_lock (key text primary key, n int not null default 0)")
    await conn.executemany("INSERT INTO bench_lock (key) VALUES ($1) ON CONFLICT DO NOTHING",
                           [(f"rep-{m:02d}",) for m in range(REPS_PER_TEAM)])
    keys = [f"rep-{m:02d}" for m in range(REPS_PER_TEAM)]
    started = time.perf_counter()
    for _ in range(count):
        async with conn.transaction():
            await conn.fetch("SELECT key FROM bench_lock WHERE key = ANY($1) ORDER BY key FOR UPDATE", keys)
    elapsed = time.perf_counter() - started
    await conn.close()
    return count / elapsed


# -- the replicas ------------------------------------------------------------------------------


@dataclass
class Share:
    url: str
    leads: list[tuple[str, str]]  # (lead id, country)
    global_lock: bool


def replica(share: Share, ready: Any, start: Any, results: Any) -> None:
    """One router replica (a process): its own store and handler, its leads one at a time."""
    try:
        results.put(asyncio.run(_replica(share, ready, start)))
    except BaseException:
        results.put({"error": traceback.format_exc()})
        ready.set()
        raise


async def _replica(share: Share, ready: Any, start: Any) -> dict[str, Any]:
    waits: list[float] = []
    holds: list[float] = []  # from the lock taken to the commit done: how long the pool's rows are held
    locked_at = [0.0]
    per_pool = SqlRoster.lock

    async def timed_lock(self: SqlRoster, reps: Any, cursors: Any = ()) -> None:
        began = time.perf_counter()
        if share.global_lock:
            await per_pool(self, [], ["__roster__"])  # the one row every decision used to lock first
        await per_pool(self, reps, cursors)
        locked_at[0] = time.perf_counter()
        waits.append(locked_at[0] - began)

    SqlRoster.lock = timed_lock  # type: ignore[method-assign]
    store = SqlStore(share.url)
    handler = RouterHandler(Metrics(), lambda: NOW)
    async with store.read() as uow:  # warm: connections open, the policy parsed and cached
        await uow.policies.get(1)
    ready.set()
    await asyncio.to_thread(start.wait)
    began, cpu = time.perf_counter(), time.process_time()
    for lead_id, where in share.leads:
        event = LeadQualified(lead_id=lead_id, person_id=f"p-{lead_id}", source="bench", received_at=NOW,
                              contact=LeadContact(name="Bench Lead", country=where), score=10, grade="cold",
                              reasons=[], known_owner=None, policy_version=1)
        envelope = Envelope.wrap(event, source="leadrelay/scoring", subject=lead_id, key=f"k-{lead_id}",
                                 correlation_id=lead_id, time=NOW)
        async with store.transaction() as uow:
            await handler(event, envelope, uow)
        holds.append(time.perf_counter() - locked_at[0])
    ended, cpu = time.perf_counter(), time.process_time() - cpu
    await store.dispose()
    return {"began": began, "ended": ended, "decisions": len(share.leads), "waits": waits, "holds": holds, "cpu": cpu}


async def sample_lock_waits(dsn: str, stop: threading.Event, samples: list[int]) -> None:
    """How many sessions of the bench database wait on a lock (``pg_stat_activity``), every 10 ms:
    PostgreSQL's own view of the waiting, apart from the CPU the replicas wait for."""
    conn = await asyncpg.connect(dsn)
    while not stop.is_set():
        samples.append(await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"))
        await asyncio.sleep(0.01)
    await conn.close()


def run_case(url: str, leads: list[tuple[str, str]], replicas: int, global_lock: bool) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    results = context.Queue()
    readies = [context.Event() for _ in range(replicas)]
    processes = [context.Process(target=replica, args=(Share(url, leads[n::replicas], global_lock), readies[n],
                                                      start, results)) for n in range(replicas)]
    for process in processes:
        process.start()
    for ready in readies:
        ready.wait()
    if not results.empty():
        sys.exit(f"a replica failed while starting:\n{results.get()['error']}")
    stop, samples = threading.Event(), []
    sampler = threading.Thread(target=lambda: asyncio.run(sample_lock_waits(asyncpg_dsn(url), stop, samples)))
    sampler.start()
    start.set()
    outcomes = [results.get() for _ in processes]
    stop.set()
    sampler.join()
    for outcome in outcomes:
        if "error" in outcome:
            sys.exit(f"a replica failed:\n{outcome['error']}")
    for process in processes:
        process.join()
    wall = max(o["ended"] for o in outcomes) - min(o["began"] for o in outcomes)
    waits = sorted(w for o in outcomes for w in o["waits"])
    return {"rate": sum(o["decisions"] for o in outcomes) / wall, "wait_mean": sum(waits) / len(waits),
            "wait_p99": pct(waits, 0.99), "wait_share": sum(waits) / sum(o["ended"] - o["began"] for o in outcomes),
            "blocked": sum(samples) / max(1, len(samples)) / replicas,
            "cpu": sum(o["cpu"] for o in outcomes) / sum(o["decisions"] for o in outcomes),
            "held": sum(h for o in outcomes for h in o["holds"]) / sum(len(o["holds"]) for o in outcomes)}


async def prepare(url: str, leads: list[tuple[str, str]]) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    await conn.execute("INSERT INTO policies (version, document, digest, created_at) VALUES (1, $1, 'bench', $2)",
                       policy_document(), NOW)
    await conn.copy_records_to_table("persons", records=[
        (f"p-{lead_id}", "{}", 1, NOW, NOW) for lead_id, _ in leads],
        columns=["person_id", "data", "lead_count", "first_seen_at", "last_seen_at"])
    await conn.copy_records_to_table("leads", records=[
        (lead_id, f"p-{lead_id}", "bench", f"k-{lead_id}", lead_id, NOW, json.dumps({"country": where}), "qualified",
         NOW, 10, "cold", 1) for lead_id, where in leads],
        columns=["lead_id", "person_id", "source", "identity_key", "correlation_id", "received_at", "contact", "state",
                 "updated_at", "score", "grade", "policy_version"])
    await conn.execute("ANALYZE")
    await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=400, help="decisions per case")
    parser.add_argument("--replicas", default="1,2,4")
    parser.add_argument("--floor", type=int, default=1000, help="transactions per floor")
    parser.add_argument("--no-before", action="store_true", help="skip the emulated single global lock")
    args = parser.parse_args()
    counts = [int(n) for n in args.replicas.split(",")]
    base = os.environ.get("LEADRELAY_TEST_DATABASE_URL")
    if not base:
        sys.exit('Set LEADRELAY_TEST_DATABASE_URL: eval "$(bash deploy/up.sh)"')
    cases = [("disjoint pools", False, False), ("one shared pool", True, False)]
    if not args.no_before:
        cases.append(("disjoint, one global lock (before)", False, True))
    spread = random.Random(18)  # the same leads every run; teams at random, as persons hash to partitions
    plan = {(name, n): [(f"{number}-{n}-{i:05d}", country(0) if shared else country(spread.randrange(TEAMS)))
                        for i in range(args.leads)]
            for number, (name, shared, _) in enumerate(cases) for n in counts}
    name = f"lr_bench_{uuid.uuid4().hex[:8]}"
    asyncio.run(_create(base, name))
    url = base.rsplit("/", 1)[0] + "/" + name
    try:
        upgrade(url)
        asyncio.run(prepare(url, [lead for leads in plan.values() for lead in leads]))
        commit_floors = {n: asyncio.run(bare_commits(asyncpg_dsn(url), args.floor, n)) for n in counts}
        commit_floor = commit_floors[counts[0]]
        lock_floor = asyncio.run(bare_locks(asyncpg_dsn(url), args.floor))
        table = Table(title=f"Router replicas on PostgreSQL: {TEAMS} teams × {REPS_PER_TEAM} reps, "
                            f"{args.leads} decisions per case")
        for column in ("case", "replicas", "decisions/s", "× 1 replica", "per replica", "CPU ms", "lock mean ms",
                       "lock p99 ms", "time in lock", "blocked (PG)", "held ms", "1 pool max/s"):
            table.add_column(column, justify="left" if column == "case" else "right")
        for n, floor in commit_floors.items():
            table.add_row("floor: bare commit", str(n), f"{floor:,.0f}", f"{floor / commit_floor:.2f}",
                          f"{floor / n:,.0f}", "", "", "", "", "", "", "")
        table.add_row("floor: bare SELECT … FOR UPDATE, 25 rows", "", f"{lock_floor:,.0f}", "", "", "",
                      f"{1000 / lock_floor:.2f}", "", "", "", "", "")
        for case, _, global_lock in cases:
            single = None
            for n in counts:
                console.print(f"{case}: {n} replica(s)…")
                outcome = run_case(url, plan[(case, n)], n, global_lock)
                single = single or outcome["rate"]
                table.add_row(case, str(n), f"{outcome['rate']:,.0f}", f"{outcome['rate'] / single:.2f}",
                              f"{outcome['rate'] / n:,.0f}", f"{outcome['cpu'] * 1000:.1f}",
                              f"{outcome['wait_mean'] * 1000:.2f}",
                              f"{outcome['wait_p99'] * 1000:.2f}", f"{outcome['wait_share']:.0%}",
                              f"{outcome['blocked']:.0%}", f"{outcome['held'] * 1000:.1f}",
                              f"{1 / outcome['held']:,.0f}")
                figure(f"decisions/s, {case}, {n} replica(s)", outcome["rate"], "decisions/s",
                       floor_name="1 replica", floor=single,
                       note=f"blocked on a lock {outcome['blocked']:.0%} of the time")
        Console(width=200).print(table)
        print(f"cores: {os.cpu_count()}; load average at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    finally:
        asyncio.run(_drop(base, name))


async def _create(base: str, name: str) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(base))
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()


async def _drop(base: str, name: str) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(base))
    await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await conn.close()


if __name__ == "__main__":
    main()
