"""The chaos run's short schedule (bench/chaos.py --short) in CI: about 1,000 leads through the
distributed stack while each service is SIGKILLed and restarted, the Kafka broker and PostgreSQL
restart, the chat answers 500 then 429, and the clock jumps an hour; the audit must find nothing
lost and nothing done twice.

The command starts its own Kafka and PostgreSQL (other ports, a temp dir), so it never stops the
instances the rest of the suite uses. The embedded mode's kill -9 is tests/e2e/test_crash_recovery.py;
the long runs of both modes are `python bench/chaos.py` (docs/operations.md, "Chaos run").
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.chaos.harness import REPO

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.slow]

SEED = 2026  # fixed, so a failure replays with `python bench/chaos.py --short --mode distributed --seed 2026`


@pytest.mark.timeout(420)
def test_short_chaos_run_loses_nothing_and_does_nothing_twice(tmp_path: Path):
    report = tmp_path / "chaos.json"
    run = subprocess.run([sys.executable, "bench/chaos.py", "--short", "--mode", "distributed", "--seed", str(SEED),
                          "--json", str(report)], cwd=REPO, capture_output=True, text=True, timeout=400)
    tables = json.loads(report.read_text())["tables"] if report.exists() else {}
    assert "distributed" in tables, f"the chaos run ended before its audit:\n{run.stdout}\n{run.stderr[-4000:]}"
    rows = {row["measure"]: row for row in tables["distributed"]}

    assert rows["leads answered 202"]["value"] == 1000
    for must_be_zero in ("leads lost (202'd, never stored or routed)", "retries answered with another lead id",
                         "leads decided twice", "SLA steps fired twice", "leads never notified",
                         "chat deliveries given up", "leads dead-lettered"):
        assert rows[must_be_zero]["value"] == 0, (must_be_zero, run.stdout)
    # The clock jump fired SLA ladders, so "fired twice" had steps to count.
    assert rows["SLA steps fired"]["value"] > 0, run.stdout
    assert "5 SIGKILLs" in rows["faults injected"]["value"]
    assert all(row["ok"] for row in rows.values()), run.stdout
    assert run.returncode == 0, f"{run.stdout}\n{run.stderr[-4000:]}"
