"""Rows per second and memory of `leadrelay import csv` on a large GB18030 file with Chinese headers,
beside floors measured in the same run: Python's own csv module reading the same file, and a bare
fsynced SQLite commit.

    python bench/import_file.py [--rows 1000000] [--import-rows 5000]

Reading (decode, header mapping, the lead body) and validating (the API's own model and
normalisation) run over all ``--rows``; the peak resident memory is taken after a tenth of the rows
and after all of them: equal peaks mean the import streams. The full import (each row published
durably to the embedded log, exactly as `leadrelay import csv` does) runs on the first
``--import-rows`` rows into a fresh data dir.
"""

from __future__ import annotations

import argparse
import csv
import resource
import sqlite3
import sys
import tempfile
import time
from itertools import islice
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from bench.figures import figure  # noqa: E402
from leadrelay.services.intake.lead_files import read_rows  # noqa: E402
from leadrelay.services.intake.lead_import import RejectsFile, import_rows  # noqa: E402
from leadrelay.services.intake.validation import parse_lead, to_contact  # noqa: E402
from leadrelay.shared.problems import Problem  # noqa: E402
from leadrelay.shared.settings import Settings  # noqa: E402
from leadrelay.shared.shell.bootstrap import build_runtime, create_source, prepare_embedded  # noqa: E402
from leadrelay.shared.shell.cli.common import run_async  # noqa: E402  (the product's loop: uvloop)

SURNAMES = "王李张刘陈杨赵黄周吴"
COMPANIES = ("示例制造有限公司", "远东贸易股份有限公司", "北方电气", "华南物流有限公司", "Big Factory Co., Ltd.")


def write_file(path: Path, rows: int) -> None:
    with path.open("w", encoding="gb18030", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["姓名", "邮箱", "手机", "公司", "职位", "员工人数", "备注"])
        for i in range(rows):
            bad = i % 50 == 49  # one row in fifty can't be reached
            writer.writerow([f"{SURNAMES[i % 10]}{i}", "" if bad else f"lead{i}@example{i % 97}.cn",
                             "" if bad else f"138{i % 100_000_000:08d}", COMPANIES[i % 5],
                             "总经理" if i % 7 == 0 else "工程师", (i * 37) % 3000, "展会"])


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bare_sqlite_commits(path: Path, count: int = 500) -> float:
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


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:,.0f} rows/s"


async def full_import(path: Path, rows: int, data_dir: Path) -> tuple[float, int]:
    runtime = build_runtime(Settings(data_dir=data_dir, log_level="WARNING"))
    await prepare_embedded(runtime, None)
    await create_source(runtime, "fair", "csv")
    rejects = RejectsFile(data_dir / "rejects.csv")
    started = time.perf_counter()
    report = await import_rows(runtime, islice(read_rows(path, default_country="CN"), rows), "fair", rejects)
    elapsed = time.perf_counter() - started
    rejects.close()
    await runtime.bus.stop()
    await runtime.store.dispose()
    return elapsed, report.accepted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--import-rows", type=int, default=5000)
    args = parser.parse_args()
    console = Console()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        path = folder / "名单.csv"
        console.print(f"writing {args.rows:,} rows (GB18030, Chinese headers) …")
        write_file(path, args.rows)
        size_mb = path.stat().st_size / 1e6

        started = time.perf_counter()
        with path.open(encoding="gb18030", newline="") as handle:
            floor_rows = sum(1 for _ in csv.reader(handle)) - 1
        floor_read = time.perf_counter() - started

        tenth, rss_at_tenth, valid = args.rows // 10, 0.0, 0
        started = time.perf_counter()
        for count, row in enumerate(read_rows(path, default_country="CN"), start=1):
            try:
                to_contact(parse_lead(row.body))
                valid += 1
            except Problem:
                pass
            if count == tenth:
                rss_at_tenth = peak_rss_mb()
        validated = time.perf_counter() - started
        rss_at_end = peak_rss_mb()

        floor_commits = bare_sqlite_commits(folder / "floor.db")
        imported_s, accepted = run_async(full_import(path, args.import_rows, folder / "data"))

    table = Table(title=f"leadrelay import csv: {args.rows:,} rows, {size_mb:,.0f} MB")
    for column in ("measure", "figure", "floor (same run)", "ratio"):
        table.add_column(column, justify="left" if column == "measure" else "right")
    table.add_row("read + map + validate (all rows)", rate(args.rows, validated),
                  f"csv module alone: {rate(floor_rows, floor_read)}", f"{floor_read / validated:.2f}×")
    table.add_row(f"import, published durably ({args.import_rows:,} rows)", rate(args.import_rows, imported_s),
                  f"fsynced commit: {floor_commits:,.0f}/s", f"{args.import_rows / imported_s / floor_commits:.2f}×")
    table.add_row("peak RSS after 10% / 100% of the rows", f"{rss_at_tenth:,.0f} / {rss_at_end:,.0f} MB", "", "")
    console.print(table)
    figure("read + map + validate", args.rows / validated, "rows/s", floor_name="csv module alone rows/s",
           floor=floor_rows / floor_read)
    figure("import, published durably", args.import_rows / imported_s, "rows/s",
           floor_name="fsynced SQLite commits/s", floor=floor_commits)
    figure("peak RSS after all rows", rss_at_end, "MB", better="lower", floor_name="after 10% of the rows",
           floor=rss_at_tenth)
    console.print(f"valid rows: {valid:,} of {args.rows:,}; imported: {accepted:,} of {args.import_rows:,}")


if __name__ == "__main__":
    main()
