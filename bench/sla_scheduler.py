"""SLA clocks fired per second with a million open clocks in PostgreSQL, and the scheduler lag,
beside the floor measured in the same run: a bare single-row PostgreSQL commit.

    eval "$(bash deploy/up.sh)"
    python bench/sla_scheduler.py [--open 1000000] [--due 10000]

Setup (not timed) loads ``--open`` pending clock steps due in the future and ``--due`` reminder
steps already due, each for an assigned lead, into a scratch database. Then the real scheduler
(``SlaScheduler.fire_due``) drains the due steps: every step locks its lead, marks itself fired,
writes the lead's history and emits an SLA event into the outbox, in batches of 100 per
transaction. Lag is "now − the oldest due, unfired step", sampled while it drains.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.figures import figure  # noqa: E402
from leadrelay.services.router.scheduler import SlaScheduler  # noqa: E402
from leadrelay.shared.adapters.sql.migrate import upgrade  # noqa: E402
from leadrelay.shared.adapters.sql.store import SqlStore  # noqa: E402
from leadrelay.shared.metrics import Metrics  # noqa: E402
from leadrelay.shared.shell.bootstrap import bundled_policy_text  # noqa: E402
from leadrelay.shared.shell.cli.common import run_async  # noqa: E402  (the product's loop: uvloop)

console = Console(stderr=True)


def asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def bare_commits(dsn: str, count: int = 500) -> float:
    conn = await asyncpg.connect(dsn)
    await conn.execute("CREATE TEMP TABLE floor (id bigserial primary key, payload bytea)")
    started = time.perf_counter()
    for _ in range(count):
        async with conn.transaction():
            await conn.execute("INSERT INTO floor (payload) VALUES ($1)", b"x" * 200)
    elapsed = time.perf_counter() - started
    await conn.close()
    return count / elapsed


async def load(dsn: str, open_count: int, due_count: int, now: datetime) -> None:
    conn = await asyncpg.connect(dsn)
    await conn.execute("INSERT INTO policies (version, document, digest, created_at) VALUES (1, $1, 'bench', $2)",
                       bundled_policy_text(), now)
    owner = "rep-li"  # a rep of the bundled policy
    leads = []
    clocks = []
    with Progress(TextColumn("loading clocks"), BarColumn(), MofNCompleteColumn(), console=console,
                  transient=True) as bar:
        task = bar.add_task("rows", total=open_count + due_count)
        for i in range(open_count + due_count):
            lead_id = f"lead-{i}"
            if i < due_count:
                leads.append((lead_id, "bench", f"k{i}", lead_id, now - timedelta(hours=1), "{}", "assigned", owner,
                              "enterprise", now - timedelta(hours=1), now, 50, "warm"))
                due = now - timedelta(seconds=due_count - i)
                clocks.append((f"{lead_id}:0:first_touch:remind", lead_id, "first_touch", "remind", owner, due,
                               "pending"))
            else:
                due = now + timedelta(minutes=10 + i % 100_000)
                clocks.append((f"{lead_id}:0:recycle:return_to_pool", lead_id, "recycle", "return_to_pool", owner,
                               due, "pending"))
            if len(clocks) >= 50_000:
                await conn.copy_records_to_table("sla_clocks", records=clocks, columns=[
                    "timer_id", "lead_id", "clock", "step", "owner", "due_at", "state"])
                bar.advance(task, len(clocks))
                clocks.clear()
        if clocks:
            await conn.copy_records_to_table("sla_clocks", records=clocks, columns=[
                "timer_id", "lead_id", "clock", "step", "owner", "due_at", "state"])
            bar.advance(task, len(clocks))
    await conn.copy_records_to_table("leads", records=leads, columns=[
        "lead_id", "source", "identity_key", "correlation_id", "received_at", "contact", "state", "owner", "team",
        "assigned_at", "updated_at", "score", "grade"])
    await conn.execute("ANALYZE")
    await conn.close()


async def main(open_count: int, due_count: int) -> None:
    base = os.environ.get("LEADRELAY_TEST_DATABASE_URL")
    if not base:
        sys.exit('Set LEADRELAY_TEST_DATABASE_URL: eval "$(bash deploy/up.sh)"')
    name = f"lr_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(asyncpg_dsn(base))
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = base.rsplit("/", 1)[0] + "/" + name
    try:
        await asyncio.to_thread(upgrade, url)
        floor = await bare_commits(asyncpg_dsn(url))
        now = datetime.now(UTC)
        await load(asyncpg_dsn(url), open_count, due_count, now)
        store = SqlStore(url)
        metrics = Metrics()
        scheduler = SlaScheduler(store, metrics, lambda: datetime.now(UTC))
        lags: list[float] = []

        async def sample_lag() -> None:
            while True:
                async with store.read() as uow:
                    _, oldest = await uow.clocks.stats(datetime.now(UTC))
                lags.append((datetime.now(UTC) - oldest).total_seconds() if oldest else 0.0)
                await asyncio.sleep(0.5)

        sampler = asyncio.create_task(sample_lag())
        started = time.perf_counter()
        fired = await scheduler.fire_due()
        elapsed = time.perf_counter() - started
        sampler.cancel()
        async with store.read() as uow:
            open_left, oldest = await uow.clocks.stats(datetime.now(UTC))
        lags.append((datetime.now(UTC) - oldest).total_seconds() if oldest else 0.0)
        async with store.read() as uow:
            events = (await uow.tx.conn.exec_driver_sql("SELECT count(*) FROM outbox WHERE topic = 'lead.sla'")).scalar()
        await store.dispose()
        print(f"floor: bare PostgreSQL single-row commit   {floor:8.0f} commits/s")
        print(f"scheduler: steps fired                    {fired / elapsed:8.0f} steps/s  "
              f"({fired} due steps in {elapsed:.1f} s, batches of 100; {events} SLA events emitted)")
        print(f"open clocks during the run                 {open_left:8d}")
        figure(f"SLA steps fired/s, {open_count:,} open clocks", fired / elapsed, "steps/s",
               floor_name="bare PostgreSQL commits/s", floor=floor)
        print(f"scheduler lag (now − oldest due unfired)   {lags[0]:.0f} s of backlog at the start "
              f"(the due steps were planted up to {due_count} s in the past), {lags[-1]:.1f} s after the drain")
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--open", type=int, default=1_000_000)
    parser.add_argument("--due", type=int, default=10_000)
    args = parser.parse_args()
    run_async(main(args.open, args.due))
