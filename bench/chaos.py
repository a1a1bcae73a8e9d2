"""The chaos run (issue 17): a steady stream of leads while, on a seeded schedule, every fault
happens; then an audit of what a user can read, and a table. Exit status 1 on any loss or double.

    python bench/chaos.py [--leads 10000] [--short] [--seed N] [--mode distributed|embedded|both]

Distributed mode runs its OWN Kafka and PostgreSQL (deploy/kafka/kafka.sh, deploy/postgres/postgres.sh
on free ports, data under a temp dir), so it never touches the instances a test suite uses; every
service is a real ``leadrelay serve <service>`` process. Embedded mode runs ``leadrelay run`` on a
data dir. The chat platform is the local Slack stand-in (tests/platforms/fake_chat.py).

The faults (docs/operations.md, "Chaos run"): SIGKILL of each service and a restart; a Kafka broker
stop/start; a PostgreSQL restart; the chat answering 500, then 429 with Retry-After; the clock
jumped an hour (LEADRELAY_CLOCK_OFFSET_S, applied by a rolling restart of every process).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
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

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the chat stand-in and the test policy live under tests/

from leadrelay.services.notifier.sender import CONCURRENCY as SENDS_IN_FLIGHT  # noqa: E402
from leadrelay.shared.adapters.sql import schema  # noqa: E402
from tests.conftest import policy_text  # noqa: E402
from tests.platforms.fake_chat import FakeChat  # noqa: E402

SERVICES = ("intake", "scoring", "router", "notifier", "relay")  # the SLA scheduler runs in the router
CLOCK_JUMP_S = 3600
WEBHOOKS = ("webhook_a", "webhook_b", "webhook_c", "webhook_mgr")
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# Decisions written when a lead changes hands (services/router/assignment.py reassign) carry "by";
# the router's first decision over a lead does not.
SLA_KINDS = ("sla_reminder", "sla_breached")


def log(message: str) -> None:
    print(f"[chaos {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- the schedule ----------------------------------------------------------------------------------

def schedule(seed: int, mode: str, short: bool, window_s: float) -> list[tuple[float, str]]:
    """The faults and when (seconds after the first lead), from the seed alone: printed, replayable."""
    rng = random.Random(f"{seed}:{mode}")
    if mode == "distributed":
        faults = [f"kill {s}" for s in SERVICES] * (1 if short else 2)
        faults += ["restart kafka", "restart postgres", "chat 500 then 429", "clock +1h"]
    else:
        faults = ["kill -9 run"] * (2 if short else 5) + ["chat 500 then 429", "clock +1h"]
    # The clock jumps once hot leads are waiting on their SLA (so the ladder has steps to fire).
    return sorted((round(rng.uniform(0.4 if fault == "clock +1h" else 0.05, 0.8) * window_s, 1), fault)
                  for fault in faults)


# -- the system under test -------------------------------------------------------------------------

@dataclass
class Processes:
    """The Leadrelay processes of a run: started, SIGKILLed, restarted; their logs kept."""

    env: dict[str, str]
    logs: Path
    commands: dict[str, list[str]]
    running: dict[str, subprocess.Popen] = field(default_factory=dict)
    starts: Counter = field(default_factory=Counter)
    kills: int = 0
    exits: list[str] = field(default_factory=list)  # exited on their own, restarted

    def start(self, name: str) -> None:
        self.starts[name] += 1
        log_file = (self.logs / f"{name}-{self.starts[name]}.log").open("ab")
        self.running[name] = subprocess.Popen(self.commands[name], env=self.env, cwd=REPO,
                                              stdout=subprocess.DEVNULL, stderr=log_file)

    def kill(self, name: str) -> None:
        self.running[name].send_signal(signal.SIGKILL)
        self.running[name].wait(30)
        self.kills += 1

    def stop(self, name: str) -> None:
        process = self.running[name]
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)

    def stop_all(self) -> None:
        for name in list(self.running):
            self.stop(name)

    def check_alive(self) -> None:
        """The supervisor (systemd's Restart=on-failure, a Kubernetes pod): a process that exits on
        its own (a service started while Kafka is down stops with "kafka unreachable") is restarted
        and counted in the report; one that keeps exiting fails the run."""
        for name, process in list(self.running.items()):
            if process.poll() is not None:
                self.exits.append(f"{name} ({process.returncode})")
                if self.exits.count(f"{name} ({process.returncode})") > 5:
                    tail = (self.logs / f"{name}-{self.starts[name]}.log").read_text(errors="replace")[-3000:]
                    raise RuntimeError(f"{name} keeps exiting ({process.returncode}):\n{tail}")
                log(f"{name} exited with {process.returncode} on its own; restarting it")
                self.start(name)


def infra(script: str, command: str, env: dict[str, str]) -> str:
    result = subprocess.run(["bash", f"deploy/{script}", command], cwd=REPO, env={**os.environ, **env},
                            capture_output=True, text=True, timeout=240)
    if result.returncode != 0:
        raise RuntimeError(f"{script} {command} failed:\n{result.stderr[-2000:]}")
    return result.stdout.strip()


@dataclass
class Target:
    """What the driver and the audit need of one mode's running system."""

    url: str  # the intake's base URL
    source_key: str
    database_url: str
    processes: Processes
    infra_env: dict[str, str] = field(default_factory=dict)

    async def fault(self, fault: str, rng: random.Random, chat: FakeChat, short: bool) -> None:
        what, _, target = fault.partition(" ")
        if what == "kill":
            name = "run" if target == "-9 run" else target
            self.processes.kill(name)
            await asyncio.sleep(rng.uniform(0.5, 3.0))  # down for a moment, then a supervisor restarts it
            self.processes.start(name)
        elif fault == "restart kafka":
            await asyncio.to_thread(infra, "kafka/kafka.sh", "stop", self.infra_env)
            await asyncio.sleep(rng.uniform(2.0, 5.0))
            await asyncio.to_thread(infra, "kafka/kafka.sh", "start", self.infra_env)
        elif fault == "restart postgres":
            await asyncio.to_thread(infra, "postgres/postgres.sh", "restart", self.infra_env)
        elif fault == "chat 500 then 429":
            await chat_outage(chat, 8.0 if short else 30.0, retry_after=5)
        elif fault == "clock +1h":
            # The jump is applied at restart: every process comes back reading a clock an hour ahead.
            self.processes.env["LEADRELAY_CLOCK_OFFSET_S"] = str(CLOCK_JUMP_S)
            for name in list(self.processes.running):
                self.processes.stop(name)
                self.processes.start(name)
        else:
            raise ValueError(fault)


async def chat_outage(chat: FakeChat, seconds: float, retry_after: int) -> None:
    """Every Slack post answers 500 for ``seconds``, then 429 with Retry-After for as long."""
    for status, headers in ((500, {}), (429, {"Retry-After": str(retry_after)})):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if chat.pending_failures("slack") < 16:
                chat.fail_next("slack", 16, status=status, headers=headers)
            await asyncio.sleep(0.05)
        chat.clear_failures("slack")


def chaos_policy(chat: FakeChat) -> str:
    # Room for every lead of a long run: a rep at capacity would park leads in the fallback queue,
    # which is correct but tells the audit less.
    return policy_text(chat).replace("capacity: {open: 1000, per_day: 1000}",
                                     "capacity: {open: 100000, per_day: 100000}")


async def start_distributed(work: Path, chat: FakeChat) -> Target:
    from leadrelay.shared.adapters.sql.migrate import upgrade
    from leadrelay.shared.settings import Settings
    from leadrelay.shared.shell.bootstrap import apply_policy, build_runtime, create_source, ensure_topics

    pg_dir = work / "pg"
    kafka_dir = work / "kafka"
    infra_env = {"KAFKA_PORT": str(free_port()), "KAFKA_CONTROLLER_PORT": str(free_port()),
                 "KAFKA_DATA_DIR": str(kafka_dir), "PG_PORT": str(free_port()), "PG_DATA_DIR": str(pg_dir)}
    log(f"starting a dedicated PostgreSQL on {infra_env['PG_PORT']} and Kafka on {infra_env['KAFKA_PORT']}")
    database_url, bootstrap = await asyncio.gather(
        asyncio.to_thread(infra, "postgres/postgres.sh", "start", infra_env),
        asyncio.to_thread(infra, "kafka/kafka.sh", "start", infra_env))
    await asyncio.to_thread(upgrade, database_url)
    prefix = f"chaos{uuid.uuid4().hex[:6]}."
    settings = Settings(mode="distributed", database_url=database_url, kafka_bootstrap=bootstrap, topic_prefix=prefix,
                        kafka_partitions=4, identity_salt="chaos-salt", link_secret="chaos-link-secret-0123456789",
                        public_url="http://leadrelay.test")
    runtime = build_runtime(settings)
    await ensure_topics(runtime)
    await apply_policy(runtime, chaos_policy(chat), "chaos")
    key = await create_source(runtime, "web")
    await runtime.bus.stop()
    await runtime.store.dispose()
    port = free_port()
    env = {**os.environ, "LEADRELAY_MODE": "distributed", "LEADRELAY_DATABASE_URL": database_url,
           "LEADRELAY_KAFKA_BOOTSTRAP": bootstrap, "LEADRELAY_TOPIC_PREFIX": prefix, "LEADRELAY_KAFKA_PARTITIONS": "4",
           "LEADRELAY_IDENTITY_SALT": settings.identity_salt, "LEADRELAY_LINK_SECRET": settings.link_secret or "",
           "LEADRELAY_PUBLIC_URL": "http://leadrelay.test", "LEADRELAY_LOG_LEVEL": "WARNING",
           "LEADRELAY_PORT": str(port)}
    env.pop("LEADRELAY_CLOCK_OFFSET_S", None)
    cli = [sys.executable, "-m", "leadrelay.shared.shell.cli", "serve"]
    processes = Processes(env, work / "logs", {name: [*cli, name] for name in SERVICES})
    for name in SERVICES:
        processes.start(name)
    return Target(f"http://127.0.0.1:{port}", key, database_url, processes, infra_env)


async def start_embedded(work: Path, chat: FakeChat) -> Target:
    data_dir = work / "data"
    policy = work / "policy.yaml"
    policy.write_text(chaos_policy(chat))
    cli = [sys.executable, "-m", "leadrelay.shared.shell.cli"]
    env = {**os.environ, "LEADRELAY_LOG_LEVEL": "WARNING", "LEADRELAY_PUBLIC_URL": "http://leadrelay.test"}
    env.pop("LEADRELAY_CLOCK_OFFSET_S", None)
    added = subprocess.run([*cli, "sources", "add", "web", "--data-dir", str(data_dir)], env=env, cwd=REPO,
                           capture_output=True, text=True, check=True, timeout=120)
    key = added.stdout.strip().splitlines()[-1]
    port = free_port()
    run = [*cli, "run", "--data-dir", str(data_dir), "--policy", str(policy), "--port", str(port)]
    processes = Processes(env, work / "logs", {"run": run})
    processes.start("run")
    return Target(f"http://127.0.0.1:{port}", key, f"sqlite+aiosqlite:///{data_dir / 'leadrelay.db'}", processes)


# -- the load --------------------------------------------------------------------------------------

def lead_body(seed: int, i: int) -> dict:
    """Every fifth lead is hot (its SLA is 15 minutes: the clock jump fires its ladder), every
    twentieth comes back with an earlier lead's email (the returning-person rule)."""
    email = f"chaos{seed}-{i - 10 if i % 20 == 19 else i}@example.com"
    body: dict = {"email": email, "name": f"Chaos {i}", "company": f"Co {i % 97}"}
    if i % 5 == 0:
        body.update(title="CTO", employees=2000)
    elif i % 5 == 1:
        body.update(title="Director of IT")
    return body


@dataclass
class Load:
    accepted: dict[int, str] = field(default_factory=dict)  # lead number -> lead id answered 202
    other_answers: Counter = field(default_factory=Counter)
    changed_ids: int = 0  # a retry answered 202 with another lead id: idempotency broken
    last_202: float = 0.0


async def post_leads(target: Target, seed: int, count: int, rate: float, t0: float, load: Load) -> None:
    """A steady stream: lead i is due at t0 + i/rate; a failed POST is retried with the same
    Idempotency-Key until it is answered 202, as a form would."""
    numbers = iter(range(count))
    headers = {"Authorization": f"Bearer {target.source_key}"}

    async def worker(client: httpx.AsyncClient) -> None:
        for i in numbers:
            await asyncio.sleep(max(0.0, t0 + i / rate - time.monotonic()))
            key = {"Idempotency-Key": f"chaos-{seed}-{i}"}
            while True:
                try:
                    response = await client.post("/v1/leads", json=lead_body(seed, i), headers={**headers, **key})
                except httpx.TransportError as exc:
                    load.other_answers[type(exc).__name__] += 1
                else:
                    if response.status_code == 202:
                        lead_id = response.json()["lead_id"]
                        if load.accepted.setdefault(i, lead_id) != lead_id:
                            load.changed_ids += 1
                        load.last_202 = time.monotonic()
                        break
                    load.other_answers[str(response.status_code)] += 1
                await asyncio.sleep(0.25)

    async with httpx.AsyncClient(base_url=target.url, timeout=15,
                                 limits=httpx.Limits(max_connections=64)) as client:
        await asyncio.gather(*(worker(client) for _ in range(48)))


# -- the audit -------------------------------------------------------------------------------------

@dataclass
class Observed:
    """What a user can read: the database's tables and the chat stand-in's records."""

    initial_decisions: Counter
    history: list
    dead_letters: int
    failed_deliveries: int
    unfinished_deliveries: int
    messages: list[tuple[str, str]]  # (webhook token, payload) of every message the chat accepted
    notified: set[str]  # the lead ids the messages name

    @classmethod
    async def read(cls, database_url: str, chat: FakeChat) -> Observed:
        engine = create_async_engine(database_url, poolclass=NullPool)
        try:
            async with engine.connect() as conn:
                decisions = (await conn.execute(select(schema.decisions.c.lead_id, schema.decisions.c.explanation))).all()
                history = (await conn.execute(select(schema.lead_history.c.lead_id, schema.lead_history.c.kind,
                                                     schema.lead_history.c.detail))).all()
                dead = len((await conn.execute(select(schema.dead_letters.c.id))).all())
                states = Counter(row[0] for row in (await conn.execute(select(schema.deliveries.c.state))).all())
        finally:
            await engine.dispose()
        messages = [(m.token, json.dumps(m.payload, sort_keys=True)) for m in chat.messages("slack")]
        notified = {lead_id for _, payload in messages for lead_id in UUID.findall(payload)}
        initial = Counter(lead_id for lead_id, explanation in decisions if "by" not in (explanation or {}))
        return cls(initial, history, dead, states["failed"], states["pending"] + states["sending"], messages,
                   notified)

    def drained(self, lead_ids: set[str]) -> bool:
        return (lead_ids <= set(self.initial_decisions) and lead_ids <= self.notified
                and not self.unfinished_deliveries)


def audit(load: Load, seen: Observed, crashes: int) -> list[tuple[str, object, str, bool]]:
    """(measure, value, what it must be, ok) rows."""
    answered = set(load.accepted.values())
    lost = {lead_id for lead_id in answered if not seen.initial_decisions[lead_id]}
    twice = [lead_id for lead_id, n in seen.initial_decisions.items() if n > 1]
    sla_steps = Counter()
    for lead_id, kind, detail in seen.history:
        if kind in SLA_KINDS:
            sla_steps[(lead_id, detail.get("clock"), detail.get("step"), detail.get("owner"), detail.get("due_at"))] += 1
        elif detail.get("by") == "sla" or kind == "recycled":  # the ladder's last step: reassign or recycle
            sla_steps[(lead_id, kind, detail.get("previous_owner"), detail.get("owner"))] += 1
    steps_twice = sum(1 for n in sla_steps.values() if n > 1)
    # A message is one (lead, recipient, kind): its payload names the lead and says the kind, and
    # goes to the recipient's webhook; the same payload twice on one webhook is a duplicate.
    per_message = Counter(seen.messages)
    duplicated = sum(n - 1 for n in per_message.values())
    unnotified = answered - seen.notified
    return [
        ("leads answered 202", len(answered), "", True),
        ("leads lost (202'd, never stored or routed)", len(lost), "0", not lost),
        ("retries answered with another lead id", load.changed_ids, "0", load.changed_ids == 0),
        ("leads decided twice", len(twice), "0", not twice),
        ("SLA steps fired", sum(sla_steps.values()), "", True),
        ("SLA steps fired twice", steps_twice, "0", steps_twice == 0),
        ("chat messages received", sum(per_message.values()), "", True),
        ("chat messages duplicated", duplicated, f"<= {crashes * SENDS_IN_FLIGHT} (the sends in flight at a crash)",
         duplicated <= crashes * SENDS_IN_FLIGHT),
        ("leads never notified", len(unnotified), "0", not unnotified),
        ("chat deliveries given up", seen.failed_deliveries, "0", seen.failed_deliveries == 0),
        ("leads dead-lettered", seen.dead_letters, "0", seen.dead_letters == 0),
    ]


# -- one run ---------------------------------------------------------------------------------------

async def run_mode(mode: str, args: argparse.Namespace, work: Path) -> tuple[list, bool]:
    rate = args.rate
    window = args.leads / rate
    plan = schedule(args.seed, mode, args.short, window)
    print(f"\n## {mode}: {args.leads} leads at {rate:g}/s, seed {args.seed}", flush=True)
    print("schedule (seconds after the first lead):", flush=True)
    for at, fault in plan:
        print(f"  t=+{at:7.1f}s  {fault}", flush=True)
    rng = random.Random(f"{args.seed}:{mode}:delays")
    with FakeChat().serve() as chat:
        for name in WEBHOOKS:
            chat.register("slack", f"T000/B000/{name}")
        chat.set_limits("slack")  # the real 1/s per webhook is exercised in tests/platforms
        (work / "logs").mkdir(parents=True)
        target = await (start_distributed if mode == "distributed" else start_embedded)(work, chat)
        try:
            return await drive(target, plan, rng, chat, args, rate)
        finally:
            target.processes.stop_all()
            if target.infra_env:
                for script in ("kafka/kafka.sh", "postgres/postgres.sh"):
                    try:
                        infra(script, "stop", target.infra_env)
                    except RuntimeError as exc:
                        log(str(exc))


async def drive(target: Target, plan: list[tuple[float, str]], rng: random.Random, chat: FakeChat,
                args: argparse.Namespace, rate: float) -> tuple[list, bool]:
    load = Load()
    await wait_ready(target)
    t0 = time.monotonic() + 1.0
    posting = asyncio.create_task(post_leads(target, args.seed, args.leads, rate, t0, load))
    last_fault_end = t0
    for at, fault in plan:
        await asyncio.sleep(max(0.0, t0 + at - time.monotonic()))
        log(f"t=+{time.monotonic() - t0:.1f}s {fault} ({len(load.accepted)} leads answered 202 so far)")
        await target.fault(fault, rng, chat, args.short)
        last_fault_end = time.monotonic()
        target.processes.check_alive()
    while not posting.done():
        target.processes.check_alive()
        await asyncio.wait([posting], timeout=1.0)
    posting.result()
    log(f"all {len(load.accepted)} leads answered 202 at t=+{load.last_202 - t0:.1f}s; waiting for the drain")
    answered = set(load.accepted.values())
    deadline = time.monotonic() + args.drain_timeout
    while True:
        target.processes.check_alive()
        try:
            seen = await Observed.read(target.database_url, chat)
        except Exception as exc:  # noqa: BLE001 - the database may still be coming back
            log(f"audit read failed ({type(exc).__name__}); retrying")
            await asyncio.sleep(1.0)
            continue
        if seen.drained(answered) or time.monotonic() > deadline:
            break
        await asyncio.sleep(2.0)
    drained_at = time.monotonic()
    await asyncio.sleep(2.0)  # a last look: nothing may arrive after the drain either
    seen = await Observed.read(target.database_url, chat)
    crashes = target.processes.kills
    rows = audit(load, seen, crashes)
    drain = drained_at - max(last_fault_end, load.last_202)
    rows += [
        ("POST answers retried (not 202)", dict(load.other_answers) or "none", "", True),
        ("faults injected", f"{len(plan)} ({crashes} SIGKILLs)", "", True),
        ("processes that exited on their own (restarted)", ", ".join(target.processes.exits) or "none", "", True),
        ("last fault over at", f"t=+{last_fault_end - t0:.1f}s", "", True),
        ("last lead answered 202 at", f"t=+{load.last_202 - t0:.1f}s", "", True),
        ("time to drain after the last fault and lead", f"{drain:.1f}s", f"< {args.drain_timeout:g}s",
         seen.drained(answered)),
    ]
    return rows, all(ok for *_, ok in rows)


async def wait_ready(target: Target) -> None:
    deadline = time.monotonic() + 120
    async with httpx.AsyncClient(base_url=target.url, timeout=5) as client:
        while True:
            target.processes.check_alive()
            try:
                if (await client.get("/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{target.url} did not answer /healthz within 120 s")
            await asyncio.sleep(0.2)


def print_table(mode: str, rows: list) -> None:
    print(f"\n| {mode} | value | must be |\n| --- | --- | --- |", flush=True)
    for measure, value, must, ok in rows:
        print(f"| {measure} | {value} | {must}{'' if ok else ' **FAILED**'} |", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=None, help="leads to post (10000; 1000 with --short)")
    parser.add_argument("--short", action="store_true", help="about 1,000 leads and a few faults (CI)")
    parser.add_argument("--seed", type=int, default=None, help="the schedule's seed (default: random, printed)")
    parser.add_argument("--mode", choices=("distributed", "embedded", "both"), default="both")
    parser.add_argument("--rate", type=float, default=20.0, help="leads posted per second (20)")
    parser.add_argument("--drain-timeout", type=float, default=300.0, help="seconds the backlog may take (300)")
    parser.add_argument("--json", type=Path, help="also write the tables here, as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (logs, data) even when all is well")
    args = parser.parse_args()
    args.leads = args.leads or (1000 if args.short else 10000)
    args.seed = args.seed if args.seed is not None else random.randrange(1_000_000)
    print(f"chaos run: seed {args.seed} (replay with --seed {args.seed})", flush=True)
    modes = ("distributed", "embedded") if args.mode == "both" else (args.mode,)
    work = Path(tempfile.mkdtemp(prefix="leadrelay-chaos-"))
    work.chmod(0o755)  # the PostgreSQL server runs as 'postgres' when we are root
    results: dict[str, list] = {}
    passed = False  # until every mode has run and audited clean
    try:
        verdicts = []
        for mode in modes:
            rows, ok = asyncio.run(run_mode(mode, args, work / mode))
            results[mode] = rows
            verdicts.append(ok)
            print_table(mode, rows)
        passed = all(verdicts)
    finally:
        if args.json:
            args.json.write_text(json.dumps({"seed": args.seed, "leads": args.leads, "passed": passed, "tables": {
                mode: [{"measure": m, "value": v, "must_be": b, "ok": ok} for m, v, b, ok in rows]
                for mode, rows in results.items()}}, indent=2, default=str))
        if passed and not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"\nlogs and data kept in {work}", flush=True)
    print(f"\n{'PASSED' if passed else 'FAILED'}: seed {args.seed}", flush=True)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
