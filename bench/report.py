"""Runs the benchmarks and writes one markdown table: each figure, its floor measured in the same
run, and the ratio.

    python bench/report.py [--quick] [--out bench/REPORT.md] [--only NAME ...]

Each benchmark runs in its own process, one after another (they must not share the CPU), with the
arguments below (``--quick``: small sizes, for a smoke run). The distributed ones need
``LEADRELAY_TEST_KAFKA`` and ``LEADRELAY_TEST_DATABASE_URL`` (``eval "$(bash deploy/up.sh)"``);
without them they are listed as not run, with the reason. A benchmark's full output is kept
under the table, so nothing the table leaves out is lost.

Ratio: for a rate, figure ÷ floor (1.0 = as fast as the floor); for a latency, floor ÷ figure
(1.0 = as short as the floor). Either way, closer to 1 is better, and a change to the code moves it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
NEEDS_INFRA = ("LEADRELAY_TEST_KAFKA", "LEADRELAY_TEST_DATABASE_URL")

# name, script, arguments (full), arguments (quick), needs Kafka + PostgreSQL
BENCHMARKS = [
    ("embedded pipeline, 16 clients", "embedded_pipeline.py", ["--leads", "2000", "--concurrency", "16"],
     ["--leads", "300", "--concurrency", "16"], False),
    ("embedded pipeline, 64 clients", "embedded_pipeline.py", ["--leads", "2000", "--concurrency", "64"],
     ["--leads", "300", "--concurrency", "64"], False),
    ("RSS of leadrelay run", "rss_run.py", ["--leads", "2000", "--concurrency", "16"],
     ["--leads", "200", "--concurrency", "16", "--idle", "2"], False),
    ("routing decisions and simulation", "routing_decisions.py", [],
     ["--leads", "50000", "--base", "20000", "--decisions", "2000", "--repeat", "1"], False),
    ("CSV import", "import_file.py", ["--rows", "1000000", "--import-rows", "5000"],
     ["--rows", "20000", "--import-rows", "300"], False),
    ("fuzzy matching quality", "dedup_quality.py", [], ["--pairs", "2000"], False),
    ("growth, 1× → 10× reps, rules, known people", "growth.py", [],
     ["--decisions", "1000", "--repeat", "1", "--known", "1000", "--leads", "200", "--warmup", "50"], False),
    ("distributed pipeline at a fixed rate", "kafka_pipeline.py", ["--rate", "100", "--seconds", "20"],
     ["--rate", "20", "--seconds", "5"], True),
    ("distributed: sustained leads/s with 1, 2, 4 replicas", "kafka_replicas.py",
     ["--leads", "2000", "--replicas", "1,2,4"], ["--leads", "200", "--replicas", "1,2", "--floor-messages", "100"],
     True),
    ("SLA scheduler, open clocks", "sla_scheduler.py", [], ["--open", "20000", "--due", "1000"], True),
    ("router replicas over pools", "routing_replicas.py", [], ["--quick"], True),
]


def run(script: str, args: list[str]) -> tuple[int, str, float]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, str(HERE / script), *args], capture_output=True, text=True,
                          cwd=HERE.parent, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    return done.returncode, done.stdout + done.stderr, time.perf_counter() - started


def ratio(entry: dict) -> str:
    value, floor = entry.get("value"), entry.get("floor")
    if not value or not floor:
        return ""
    return f"{(value / floor if entry.get('better') == 'higher' else floor / value):.3f}"


def number(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.4g}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run, not a measurement")
    parser.add_argument("--out", type=Path, default=HERE / "REPORT.md")
    parser.add_argument("--only", nargs="*", help="run only benchmarks whose script name contains one of these")
    args = parser.parse_args()
    has_infra = all(os.environ.get(name) for name in NEEDS_INFRA)
    rows, outputs = [], []
    for name, script, full, quick, infra in BENCHMARKS:
        if args.only and not any(part in script for part in args.only):
            continue
        if not (HERE / script).exists():
            rows.append(f"| {name} | not run: `{script}` is missing | | | | | |")
            continue
        if infra and not has_infra:
            rows.append(f"| {name} | not run: needs Kafka and PostgreSQL (`eval \"$(bash deploy/up.sh)\"`) | | | | | |")
            continue
        print(f"running {script} {' '.join(quick if args.quick else full)} …", file=sys.stderr, flush=True)
        code, output, seconds = run(script, quick if args.quick else full)
        outputs.append(f"### {name} (`{script}`, {seconds:.0f} s, exit {code})\n\n```\n{output.strip()}\n```\n")
        figures = [json.loads(line[7:]) for line in output.splitlines() if line.startswith("FIGURE ")]
        if code != 0 or not figures:
            why = f"failed (exit {code})" if code != 0 else "printed no FIGURE line"
            rows.append(f"| {name} | {why}; see its output below | | | | | |")
            continue
        for entry in figures:
            rows.append(f"| {name} | {entry['name']} | {number(entry['value'])} {entry['unit']} | "
                        f"{entry.get('floor_name') or ''} | {number(entry.get('floor'))} | {ratio(entry)} | "
                        f"{entry.get('note') or ''} |")
    header = (f"# Benchmark report\n\n{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
              f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
              f"{'; QUICK run (smoke sizes, not a measurement)' if args.quick else ''}.\n\n"
              "| benchmark | figure | value | floor (same run) | floor value | ratio | note |\n"
              "| --- | --- | ---: | --- | ---: | ---: | --- |\n")
    args.out.write_text(header + "\n".join(rows) + "\n\n## Outputs\n\n" + "\n".join(outputs), encoding="utf-8")
    print(header + "\n".join(rows))
    print(f"\nwritten to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
