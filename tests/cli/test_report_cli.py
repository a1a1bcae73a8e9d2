"""``leadrelay report funnel``: the hand-computed funnel of ``tests/funnel_seed.py`` as CSV and as
a table, on an embedded data dir; on a distributed deployment's PostgreSQL; and what it refuses.
(Each expected figure is derived in tests/api/test_funnel_report.py's docstring.)"""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from leadrelay.shared.adapters.sql.store import SqlStore
from leadrelay.shared.shell.cli import app
from tests.conftest import FakeClock, scratch_database, stop_pipeline
from tests.funnel_seed import Seeded, seed, start_funnel_pipeline
from tests.platforms.fake_chat import FakeChat

runner = CliRunner()

HEADER = ["source", "rep", "received", "assigned", "accepted", "contacted", "converted", "lost",
          "first_touch_p50_seconds", "first_touch_p90_seconds", "sla_clocks", "sla_breached", "sla_compliance",
          "conversion_rate"]


def leadrelay(*args: object, env: dict[str, str] | None = None):
    return runner.invoke(app, [str(arg) for arg in args], catch_exceptions=False, prog_name="leadrelay", env=env)


def csv_cell(value: object) -> str:
    """How the csv module writes a value: None as an empty cell, a number as Python prints it."""
    return "" if value is None else str(value)


def line(*values: object) -> list[str]:
    return [csv_cell(value) for value in values]


def seeded_data_dir(data_dir: Path, chat: FakeChat, clock: FakeClock) -> Seeded:
    async def run() -> Seeded:
        pipeline, stop, task = await start_funnel_pipeline(data_dir, chat, clock)
        try:
            return await seed(pipeline, clock)
        finally:
            await stop_pipeline(pipeline, stop, task)

    return asyncio.run(run())


def test_the_funnel_by_source_and_rep_as_csv_and_as_a_table(tmp_path: Path, chat: FakeChat, clock: FakeClock):
    data = tmp_path / "data"
    seeded = seeded_data_dir(data, chat, clock)
    period = ["--since", seeded.since.isoformat(), "--until", seeded.until.isoformat()]

    result = leadrelay("report", "funnel", "--data-dir", data, *period, "--by", "source", "--by", "rep", "--csv")
    assert result.exit_code == 0, result.stderr
    assert list(csv.reader(io.StringIO(result.stdout))) == [
        HEADER,
        line("referral", "rep-a", 1, 1, 0, 0, 0, 1, None, None, 1, 1, 0 / 1, 0 / 1),  # F
        line("referral", "rep-c", 1, 1, 0, 0, 0, 0, None, None, 1, 0, 1 / 1, 0 / 1),  # E
        line("web", "rep-a", 1, 1, 1, 1, 1, 0, 300.0, 300.0, 1, 0, 1 / 1, 1 / 1),  # A
        line("web", "rep-b", 1, 1, 1, 1, 0, 1, 1200.0, 1200.0, 1, 1, 0 / 1, 0 / 1),  # B
        line("web", "rep-c", 2, 2, 2, 1, 1, 0, 300.0, 600.0, 2, 0, 2 / 2, 1 / 2),  # C D
        line("web", None, 1, 0, 0, 0, 0, 0, None, None, 0, 0, None, 0 / 1),  # G
    ]

    # The overall row as a table: 4 of 6 clocks kept is 66.7%, 2 of 7 converted 28.6%; p50 5m, p90 20m.
    result = leadrelay("report", "funnel", "--data-dir", data, *period)
    assert result.exit_code == 0, result.stderr
    [figures] = [text for text in result.stdout.splitlines() if "66.7%" in text]
    assert [cell.strip() for cell in figures.split("│")[1:-1]] == [
        "7", "6", "4", "3", "2", "2", "5m", "20m", "6", "2", "66.7%", "28.6%"]
    assert "7 lead(s) received" in result.stderr


def test_it_reads_a_distributed_deployments_database():
    """In distributed mode (LEADRELAY_MODE, LEADRELAY_DATABASE_URL) it reads PostgreSQL, migrated by
    ``leadrelay migrate``; one lead, routed at 10:00 and contacted at 10:30, makes the funnel."""
    received = datetime(2031, 3, 4, 10, 0, tzinfo=UTC)

    async def run() -> object:
        async with scratch_database() as url:
            store = SqlStore(url)
            try:
                async with store.transaction() as uow:
                    await uow.leads.insert(
                        lead_id="lead-1", person_id=None, source="expo", identity_key="k1", correlation_id="c1",
                        received_at=received, contact={}, score=70, grade="hot", reasons=[], duplicate_of=None,
                        state="contacted", owner="rep-a", team="enterprise", policy_version=3)
                    await uow.leads.add_history("lead-1", "assigned", {"rule": "hot"}, at=received)
                    await uow.leads.add_history("lead-1", "contacted", {}, at=received.replace(minute=30))
            finally:
                await store.dispose()
            env = {"LEADRELAY_MODE": "distributed", "LEADRELAY_DATABASE_URL": url,
                   "LEADRELAY_IDENTITY_SALT": "test-salt", "LEADRELAY_LINK_SECRET": "test-link-secret-0123456789"}
            return await asyncio.to_thread(leadrelay, "report", "funnel", "--since", "2031-03-04", "--until",
                                           "2031-03-05", "--by", "policy_version", "--csv", env=env)

    result = asyncio.run(run())
    assert result.exit_code == 0, result.stderr
    # received, assigned, accepted and contacted 1 (a contact is an acceptance); first touch 30
    # minutes; no clock was planned (none was written), so no SLA figure; nothing converted.
    assert list(csv.reader(io.StringIO(result.stdout))) == [
        ["policy_version", *HEADER[2:]], line(3, 1, 1, 1, 1, 0, 0, 1800.0, 1800.0, 0, 0, None, 0 / 1)]


@pytest.mark.parametrize(("args", "message"), [
    (["--by", "owner"], "--by: Cannot group by 'owner'"),
    (["--since", "yesterday"], "--since: since must be a date"),
    (["--since", "2026-05-02", "--until", "2026-05-01"], "--since: since must be before until."),
])
def test_a_wrong_option_exits_2_naming_it(tmp_path: Path, args: list[str], message: str):
    result = leadrelay("report", "funnel", "--data-dir", tmp_path / "data", *args)
    assert result.exit_code == 2
    assert message in " ".join(result.stderr.split())
    assert result.stdout == ""
