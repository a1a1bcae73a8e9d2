"""Resident memory of the real ``leadrelay run`` (embedded mode), idle and at its peak while
leads are posted to it over HTTP, beside the floor measured in the same run: a Python process
that has only imported the web and SQL layers (``leadrelay.shared.shell.app``), and, to show how much
of the figure is code loaded rather than data held, one that imported everything ``leadrelay run``
imports.

    python bench/rss_run.py [--leads 2000] [--concurrency 16] [--idle 5] [--timeout 600]

``leadrelay run`` starts on a fresh data directory and a free port, with the example policy's chat
webhooks pointed at a local Slack-like sink (so the sender delivers rather than retries). RSS is
``VmRSS`` of ``/proc/<pid>/status`` after the process was idle ``--idle`` seconds; under load it is
sampled every 50 ms from the first post until every lead's chat message was delivered, and the
peak is also checked against the kernel's own high-water mark (``VmHWM``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.figures import figure  # noqa: E402
from bench.workload import lead_body, policy_with_chat_sink, start_chat_sink  # noqa: E402
from leadrelay.shared.shell.bootstrap import bundled_policy_text  # noqa: E402

TARGET_MB = 250
STATUS_OF_SELF = "import sys; print(open('/proc/self/status').read())"


def status_mb(status: str, field: str) -> float:
    """``VmRSS: 123456 kB`` → 120.6 (MB)."""
    for line in status.splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise ValueError(f"no {field} in the status")


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    return status_mb(Path(f"/proc/{pid}/status").read_text(), field)


def python_rss_mb(imports: str = "") -> float:
    """RSS of a fresh Python (this interpreter) after running ``imports``."""
    done = subprocess.run([sys.executable, "-c", f"{imports}\n{STATUS_OF_SELF}"], capture_output=True, text=True,
                          check=True)
    return status_mb(done.stdout, "VmRSS")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def delivered(database: Path) -> int:
    """Leads with a chat message the sink answered, read from a second (read-only) connection."""
    conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5)
    try:
        return conn.execute("SELECT count(DISTINCT lead_id) FROM deliveries WHERE state = 'sent'").fetchone()[0]
    finally:
        conn.close()


async def wait_ready(base_url: str, proc: subprocess.Popen, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(base_url=base_url) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"leadrelay run exited with {proc.returncode} before it was ready")
            try:
                if (await client.get("/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"leadrelay run was not ready within {timeout_s:.0f} s")


async def load(base_url: str, key: str, pid: int, database: Path, leads: int, concurrency: int,
               timeout_s: float) -> dict[str, float]:
    """Posts the leads closed loop from ``concurrency`` clients while sampling the RSS, then keeps
    sampling until every lead's message was delivered (or the timeout)."""
    run = uuid.uuid4().hex[:8]
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(leads):
        queue.put_nowait(i)
    samples: list[float] = []
    done = asyncio.Event()

    async def sample() -> None:
        while not done.is_set():
            samples.append(rss_mb(pid))
            await asyncio.sleep(0.05)

    async def client_worker(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            i = queue.get_nowait()
            response = await client.post("/v1/leads", json=lead_body(run, i))
            assert response.status_code == 202, response.text

    sampler = asyncio.create_task(sample())
    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=base_url, headers={"Authorization": f"Bearer {key}"},
                                 limits=httpx.Limits(max_connections=concurrency), timeout=60) as client:
        await asyncio.gather(*(client_worker(client) for _ in range(concurrency)))
    posted_s = time.perf_counter() - started
    deadline = time.perf_counter() + timeout_s
    sent = 0
    while time.perf_counter() < deadline:
        sent = await asyncio.to_thread(delivered, database)
        if sent >= leads:
            break
        await asyncio.sleep(0.2)
    delivered_s = time.perf_counter() - started
    done.set()
    await sampler
    return {"posted_per_s": leads / posted_s, "delivered": sent, "delivered_per_s": sent / delivered_s,
            "peak_sampled_mb": max(samples), "after_mb": rss_mb(pid), "hwm_mb": rss_mb(pid, "VmHWM")}


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--idle", type=float, default=5.0, help="seconds idle before the idle RSS is read")
    parser.add_argument("--timeout", type=float, default=600.0,
                        help="seconds after the last post to wait for every lead's chat message")
    args = parser.parse_args()
    bare_mb = python_rss_mb()
    app_mb = python_rss_mb("import leadrelay.shared.shell.app")
    imported_mb = python_rss_mb("import leadrelay.shared.shell.bootstrap, leadrelay.shared.shell.cli")
    sink, sink_url = start_chat_sink()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            data_dir = Path(tmp) / "data"
            policy = Path(tmp) / "policy.yaml"
            policy.write_text(policy_with_chat_sink(bundled_policy_text(), sink_url), encoding="utf-8")
            port = free_port()
            stdout_path = Path(tmp) / "stdout"
            env = {**os.environ, "LEADRELAY_LOG_LEVEL": "WARNING"}
            with stdout_path.open("w") as stdout:
                proc = subprocess.Popen([sys.executable, "-m", "leadrelay.shared.shell.cli", "run", "--data-dir",
                                         str(data_dir), "--port", str(port), "--policy", str(policy)],
                                        stdout=stdout, stderr=subprocess.DEVNULL, env=env)
            try:
                base_url = f"http://127.0.0.1:{port}"
                asyncio.run(wait_ready(base_url, proc))
                key = stdout_path.read_text().split()[-1]  # the demo source's key is the last line
                time.sleep(args.idle)
                idle_mb = rss_mb(proc.pid)
                result = asyncio.run(load(base_url, key, proc.pid, data_dir / "leadrelay.db", args.leads,
                                          args.concurrency, args.timeout))
            finally:
                stop(proc)
    finally:
        sink.terminate()
        sink.wait()
    peak_mb = max(result["peak_sampled_mb"], result["hwm_mb"])
    complete = result["delivered"] >= args.leads
    print(f"floor: bare python                        {bare_mb:7.1f} MB")
    print(f"floor: python + the web and SQL layers    {app_mb:7.1f} MB  (import leadrelay.shared.shell.app: "
          "FastAPI, SQLAlchemy, pydantic)")
    print(f"python + everything `leadrelay run` loads {imported_mb:7.1f} MB  (every service and library, no work)")
    print(f"leadrelay run, idle {args.idle:.0f} s                  {idle_mb:7.1f} MB  "
          f"({idle_mb - imported_mb:+.1f} MB over its imports; target < {TARGET_MB} MB)")
    print(f"leadrelay run, peak under load            {peak_mb:7.1f} MB  "
          f"({args.leads} leads over HTTP from {args.concurrency} clients at {result['posted_per_s']:.0f}/s, "
          f"{result['delivered']:.0f} delivered to chat at {result['delivered_per_s']:.0f} leads/s; "
          f"{result['after_mb']:.1f} MB after)")
    if not complete:
        print(f"  NOT DONE: {result['delivered']:.0f} of {args.leads} leads delivered {args.timeout:.0f} s after the "
              "last post; the peak covers that window only")
    figure("RSS of leadrelay run, idle", idle_mb, "MB", better="lower",
           floor_name="python + import leadrelay.shared.shell.app", floor=app_mb,
           note=f"target < {TARGET_MB} MB; importing all `leadrelay run` loads takes {imported_mb:.0f} MB")
    figure(f"RSS of leadrelay run, peak under load ({args.leads} leads, {args.concurrency} clients)", peak_mb, "MB",
           better="lower", floor_name="python + import leadrelay.shared.shell.app", floor=app_mb,
           note=f"target < {TARGET_MB} MB" + ("" if complete else "; load NOT DONE in time"))


if __name__ == "__main__":
    main()
