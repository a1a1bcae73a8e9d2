"""A real Prometheus (Debian's ``prometheus``) scrapes a running Leadrelay and answers the
queries the SLOs, alerts and dashboards are written in.

Two Leadrelays run as real processes: ``leadrelay run`` (embedded) and the distributed services
``serve intake`` (API and /metrics) and ``serve scoring|router|notifier`` (/metrics on
LEADRELAY_METRICS_PORT) on Kafka and a scratch PostgreSQL database. Prometheus scrapes all five
every second; once every target is up, leads are posted to both intakes, and the test asks
Prometheus's HTTP API, not our registry, for:

- ``leadrelay_leads_accepted_total``: exactly the leads each intake answered 202;
- ``leadrelay_intake_to_notified_seconds``: as many observations as the fake chat received
  messages for that mode's leads, and a finite p99 from ``histogram_quantile`` over ``rate``;
- ``leadrelay_consumer_lag``: one series per consumer group and partition (embedded: partition
  "0"; distributed: every Kafka partition, reported by the group's own process), settled at 0;
- ``leadrelay_outbox_backlog``: present on every target and 0 once the relays caught up;
- the rule files in deploy/prometheus/rules/ when there are any: loaded by this Prometheus,
  evaluated without error, every ``leadrelay_*`` metric they read is one that was scraped, and
  the recording rules over the lag and backlog gauges record a series (per group, if by group).

Prometheus missing fails the test (CI installs it), as Kafka or PostgreSQL missing does. Every
process runs in its own session and is killed with its group in a ``finally``; every wait has a
deadline.
"""

from __future__ import annotations

import asyncio
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from aiokafka.admin import AIOKafkaAdminClient

from leadrelay.shared import topics
from leadrelay.shared.shell.bootstrap import apply_policy, build_runtime, create_source, ensure_topics
from tests.conftest import chat_messages_for, distributed_settings, policy_text, scratch_database
from tests.platforms.fake_chat import FakeChat

pytestmark = [pytest.mark.slow, pytest.mark.kafka, pytest.mark.postgres, pytest.mark.timeout(300)]

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "deploy" / "prometheus" / "rules"
LEADS = 6  # per mode
PARTITIONS = 3  # distributed mode's topics: few, so the lag label set is small and exact
SCRAPE_INTERVAL = "1s"
# Bounds: processes starting (Python imports, Kafka group joins), leads reaching the chat, and
# Prometheus catching up with a value (a scrape, then a rule evaluation, each 1 s apart).
START_TIMEOUT_S = 60.0
NOTIFY_TIMEOUT_S = 90.0
QUERY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0
CONSUMER_GROUPS = tuple(topics.CONSUMERS)
# A metric name in a rule expression: not a recording rule's name (those have colons).
METRIC_NAME = re.compile(r"(?<![\w:])leadrelay_[A-Za-z0-9_]+(?![\w:])")
HISTOGRAM_SERIES = re.compile(r"_(bucket|sum|count)$")


def prometheus_binary() -> str:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("prometheus is not on PATH. CI installs Debian's package (.ci/run); here: apt-get install -y "
                    "--no-install-recommends prometheus", pytrace=False)
    return binary


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Processes:
    """Child processes, each the leader of its own session, so stopping one stops its children."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.started: dict[str, subprocess.Popen] = {}

    def start(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen:
        log = (self.logs / f"{name}.log").open("ab")
        try:
            process = subprocess.Popen(args, env=env, cwd=self.logs, stdin=subprocess.DEVNULL,
                                       stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        finally:
            log.close()  # the child holds its own descriptor
        self.started[name] = process
        return process

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")[-3000:]

    def assert_running(self) -> None:
        for name, process in self.started.items():
            assert process.poll() is None, f"{name} exited {process.returncode}:\n{self.log(name)}"

    def stop_all(self) -> None:
        """SIGTERM to every group (a consumer leaves its Kafka group), then SIGKILL whatever is left."""
        for process in self.started.values():
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for process in self.started.values():
            with suppress(subprocess.TimeoutExpired):
                process.wait(max(0.1, deadline - time.monotonic()))
        for process in self.started.values():
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(STOP_TIMEOUT_S)


def leadrelay(*args: str) -> list[str]:
    return [sys.executable, "-m", "leadrelay.shared.shell.cli", *args]


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without any LEADRELAY_* of the caller's shell, plus ``extra``."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("LEADRELAY_")}
    return {**env, "LEADRELAY_LOG_LEVEL": "WARNING", **extra}


async def eventually(measure: Callable[[], Awaitable[Any]], until: Callable[[Any], bool], what: str,
                     timeout: float, processes: Processes | None = None) -> Any:
    """Measures until ``until(value)`` and returns that value; fails after ``timeout`` with the
    last value (or error), or at once if a process we started has died."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        if processes is not None:
            processes.assert_running()
        try:
            last = value = await measure()
        except (httpx.TransportError, AssertionError) as exc:  # not answering yet, or not "success"
            last = exc
        else:
            if until(value):
                return value
        assert time.monotonic() < deadline, f"{what} after {timeout}s; last: {last!r}"
        await asyncio.sleep(0.25)


class PrometheusApi:
    def __init__(self, client: httpx.AsyncClient, url: str) -> None:
        self.client = client
        self.url = url

    async def get(self, path: str, **params: str) -> Any:
        response = await self.client.get(self.url + path, params=params)
        # While it starts, Prometheus answers 503 in plain text: "not ready yet", like a refused connection.
        assert response.status_code == 200 and response.headers.get("content-type", "").startswith(
            "application/json"), f"{response.status_code} {response.text[:200]}"
        body = response.json()
        assert body["status"] == "success", body
        return body["data"]

    async def query(self, expr: str) -> list[tuple[dict[str, str], float]]:
        """An instant vector: (labels, value) per series."""
        data = await self.get("/api/v1/query", query=expr)
        assert data["resultType"] == "vector", data
        return [(series["metric"], float(series["value"][1])) for series in data["result"]]

    async def by_job(self, expr: str) -> dict[str, float]:
        return {labels["job"]: value for labels, value in await self.query(expr)}


def prometheus_config(targets: dict[str, dict[str, int]], rule_files: list[Path]) -> dict[str, Any]:
    """One job per mode; each target carries its service as a label."""
    return {
        "global": {"scrape_interval": SCRAPE_INTERVAL, "scrape_timeout": SCRAPE_INTERVAL,
                   "evaluation_interval": SCRAPE_INTERVAL},
        "rule_files": [str(path) for path in rule_files],
        "scrape_configs": [
            {"job_name": job, "metrics_path": "/metrics",
             "static_configs": [{"targets": [f"127.0.0.1:{port}"], "labels": {"service": service}}
                                for service, port in services.items()]}
            for job, services in targets.items()
        ],
    }


@asynccontextmanager
async def distributed_database(chat: FakeChat) -> AsyncIterator[tuple[dict[str, str], str]]:
    """A migrated scratch database with the test policy and a source, and the pipeline's topics
    (under a prefix of their own, deleted afterwards). Yields the services' environment and the key."""
    async with scratch_database() as url:
        prefix = f"prom{uuid.uuid4().hex[:8]}."
        settings = distributed_settings(url, prefix).model_copy(update={"kafka_partitions": PARTITIONS})
        runtime = build_runtime(settings)
        try:
            await ensure_topics(runtime)
            await apply_policy(runtime, policy_text(chat), "test")
            key = await create_source(runtime, "web")
        finally:
            await runtime.bus.stop()
            await runtime.store.dispose()
        env = clean_env(LEADRELAY_MODE="distributed", LEADRELAY_DATABASE_URL=url,
                        LEADRELAY_KAFKA_BOOTSTRAP=settings.kafka_bootstrap, LEADRELAY_TOPIC_PREFIX=prefix,
                        LEADRELAY_KAFKA_PARTITIONS=str(PARTITIONS), LEADRELAY_IDENTITY_SALT=settings.identity_salt,
                        LEADRELAY_LINK_SECRET=settings.link_secret or "")
        try:
            yield env, key
        finally:
            admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
            await admin.start()
            try:
                await asyncio.wait_for(admin.delete_topics([prefix + name for name in topics.all_topics()]), 30)
            finally:
                await admin.close()


async def post_leads(client: httpx.AsyncClient, url: str, key: str, mode: str) -> list[str]:
    accepted = []
    for n in range(LEADS):
        response = await client.post(f"{url}/v1/leads", headers={"Authorization": f"Bearer {key}"},
                                     json={"email": f"prom-{mode}-{n}-{uuid.uuid4().hex[:6]}@example.com",
                                           "name": f"P {n}", "company": f"Scrape {n}"})
        assert response.status_code == 202, response.text
        accepted.append(response.json()["lead_id"])
    return accepted


def rule_names_and_metrics(rule_files: list[Path]) -> tuple[set[str], set[str]]:
    """The recording rules' names and the ``leadrelay_*`` metric names the expressions read."""
    recorded: set[str] = set()
    read: set[str] = set()
    for path in rule_files:
        for group in (yaml.safe_load(path.read_text()) or {}).get("groups", []):
            for rule in group.get("rules", []):
                if "record" in rule:
                    recorded.add(rule["record"])
                read |= set(METRIC_NAME.findall(str(rule.get("expr", ""))))
    return recorded, read - recorded


async def test_prometheus_scrapes_both_modes_and_answers_the_slo_queries(tmp_path: Path, chat: FakeChat):
    binary = prometheus_binary()
    rule_files = sorted([*RULES.glob("*.yml"), *RULES.glob("*.yaml")])  # none while the directory is absent
    processes = Processes(tmp_path)
    started_at = time.monotonic()
    async with distributed_database(chat) as (distributed_env, distributed_key), httpx.AsyncClient(timeout=10) as http:
        try:
            # The embedded Leadrelay, with a source made before it starts (so it prints no demo key).
            data = tmp_path / "data"
            policy = tmp_path / "policy.yaml"
            policy.write_text(policy_text(chat))
            made = subprocess.run(leadrelay("sources", "add", "web", "--data-dir", str(data)), env=clean_env(),
                                  capture_output=True, text=True, timeout=60, check=True)
            embedded_key = made.stdout.strip().splitlines()[-1]
            ports = {"embedded": {"leadrelay": free_port()},
                     "distributed": {"intake": free_port(), **{group: free_port() for group in CONSUMER_GROUPS}}}
            processes.start("embedded", leadrelay("run", "--data-dir", str(data), "--policy", str(policy),
                                                  "--port", str(ports["embedded"]["leadrelay"])), clean_env())
            processes.start("intake", leadrelay("serve", "intake"),
                            {**distributed_env, "LEADRELAY_PORT": str(ports["distributed"]["intake"])})
            for group in CONSUMER_GROUPS:
                processes.start(group, leadrelay("serve", group),
                                {**distributed_env, "LEADRELAY_METRICS_PORT": str(ports["distributed"][group])})

            prometheus_port = free_port()
            config = tmp_path / "prometheus.yml"
            config.write_text(yaml.safe_dump(prometheus_config(ports, rule_files)))
            processes.start("prometheus", [binary, f"--config.file={config}",
                                           f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                                           f"--web.listen-address=127.0.0.1:{prometheus_port}"], dict(os.environ))
            prometheus = PrometheusApi(http, f"http://127.0.0.1:{prometheus_port}")

            async def targets() -> dict[str, str]:
                active = (await prometheus.get("/api/v1/targets", state="active"))["activeTargets"]
                return {target["scrapeUrl"]: target["health"] for target in active}

            # Up means scraped once at least, so the counters' and histograms' zeros are stored
            # before the leads arrive, and rate() sees them rise.
            await eventually(targets, lambda health: len(health) == 5 and set(health.values()) == {"up"},
                             "not every target up", START_TIMEOUT_S, processes)
            up_at = time.monotonic()

            lead_ids = {
                "embedded": await post_leads(http, f"http://127.0.0.1:{ports['embedded']['leadrelay']}",
                                             embedded_key, "embedded"),
                "distributed": await post_leads(http, f"http://127.0.0.1:{ports['distributed']['intake']}",
                                                distributed_key, "distributed"),
            }

            async def messages_per_lead() -> dict[str, list[int]]:
                return {mode: [len(chat_messages_for(chat, lead)) for lead in ids] for mode, ids in lead_ids.items()}

            counts = await eventually(messages_per_lead, lambda counts: all(map(all, counts.values())),
                                      "leads not all in the chat", NOTIFY_TIMEOUT_S, processes)
            notified_at = time.monotonic()

            # Counters as Prometheus stores them, equal to what we know happened: the 202s each
            # intake gave, and one intake→notified observation per message the chat received.
            async def accepted_and_notified() -> dict[str, dict[str, float]]:
                return {"accepted": await prometheus.by_job("sum by (job) (leadrelay_leads_accepted_total)"),
                        "notified": await prometheus.by_job("sum by (job) (leadrelay_intake_to_notified_seconds_count)")}

            happened = {"accepted": {mode: float(LEADS) for mode in lead_ids},
                        "notified": {mode: float(sum(n)) for mode, n in counts.items()}}
            await eventually(accepted_and_notified, lambda seen: seen == happened,
                             f"Prometheus's counts not {happened}", QUERY_TIMEOUT_S)

            # The speed-to-lead SLO's expression: a finite p99 per mode, within the histogram's range.
            async def p99() -> dict[str, float]:
                return await prometheus.by_job("histogram_quantile(0.99, sum by (job, le) "
                                               "(rate(leadrelay_intake_to_notified_seconds_bucket[1m])))")

            quantiles = await eventually(
                p99, lambda values: set(values) == set(lead_ids) and not any(map(math.isnan, values.values())),
                "no p99 of intake→notified per mode", QUERY_TIMEOUT_S)
            assert all(0 < q <= 300 for q in quantiles.values()), quantiles

            # Consumer lag: one series per group and partition, from the group's own process, at 0.
            want_lag = {("embedded", "leadrelay", group, "0") for group in CONSUMER_GROUPS} | {
                ("distributed", group, group, str(p)) for group in CONSUMER_GROUPS for p in range(PARTITIONS)}

            async def lag() -> dict[tuple[str, ...], float]:
                return {(s["job"], s["service"], s["group"], s["partition"]): v
                        for s, v in await prometheus.query("leadrelay_consumer_lag")}

            await eventually(lag, lambda series: set(series) == want_lag and not any(series.values()),
                             "consumer lag not one series per group and partition, at 0", QUERY_TIMEOUT_S)

            async def backlog() -> dict[tuple[str, str], float]:
                return {(s["job"], s["service"]): v for s, v in await prometheus.query("leadrelay_outbox_backlog")}

            every_target = {(job, service) for job, services in ports.items() for service in services}
            await eventually(backlog, lambda series: set(series) == every_target and not any(series.values()),
                             "outbox backlog not 0 on every target", QUERY_TIMEOUT_S)

            empty = await check_rules(prometheus, rule_files) if rule_files else set()
            print(f"\nprometheus scrape: targets up {up_at - started_at:.1f}s, {2 * LEADS} leads notified "
                  f"{notified_at - up_at:.1f}s later, p99 intake→notified {quantiles}, {len(rule_files)} rule "
                  f"files (recording no series yet: {sorted(empty)}), total {time.monotonic() - started_at:.1f}s")
        finally:
            processes.stop_all()


async def check_rules(prometheus: PrometheusApi, rule_files: list[Path]) -> set[str]:
    """The rule files as this Prometheus loaded and evaluated them against our live series.
    Returns the recording rules that recorded nothing (no failures, say, or too short a run)."""
    async def rules() -> list[dict[str, Any]]:
        groups = (await prometheus.get("/api/v1/rules"))["groups"]
        return [{**rule, "file": group["file"]} for group in groups for rule in group["rules"]]

    with_groups = {path.resolve() for path in rule_files if (yaml.safe_load(path.read_text()) or {}).get("groups")}
    assert with_groups <= {Path(rule["file"]).resolve() for rule in await rules()}, "a rule file was not loaded"
    # A group with a long interval may not have run yet; whatever has run must have run cleanly.
    with suppress(AssertionError):
        await eventually(rules, lambda rules: all(rule["health"] != "unknown" for rule in rules),
                         "rules not all evaluated", QUERY_TIMEOUT_S)
    failing = {rule["name"]: rule.get("lastError") for rule in await rules() if rule["health"] == "err"}
    assert not failing, failing

    # Every metric the rules read is one our processes expose (a histogram's series by its family).
    scraped = set(await prometheus.get("/api/v1/label/__name__/values")) | set(await prometheus.get("/api/v1/metadata"))
    _, read = rule_names_and_metrics(rule_files)
    unknown = {name for name in read if name not in scraped and HISTOGRAM_SERIES.sub("", name) not in scraped}
    assert not unknown, f"rules read metrics no Leadrelay process exposes: {sorted(unknown)}"

    # The pipeline-depth gauges are there from the start, so what is recorded over them must be too.
    recording = [rule for rule in await rules() if rule["type"] == "recording"]
    for rule in recording:
        if set(METRIC_NAME.findall(rule["query"])) & {"leadrelay_consumer_lag", "leadrelay_outbox_backlog"}:
            series = await prometheus.query(rule["name"])
            assert series, f"{rule['name']} ({rule['query']}) recorded nothing"
            if all("group" in labels for labels, _ in series):
                assert {labels["group"] for labels, _ in series} == set(CONSUMER_GROUPS), (rule["name"], series)
    return {rule["name"] for rule in recording if not await prometheus.query(rule["name"])}
