"""`leadrelay policy validate|test|diff|simulate|schema` and `leadrelay demo leads`, end to end."""

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from leadrelay.shared.shell.cli import app

ROOT = Path(__file__).resolve().parents[2]
POLICY = ROOT / "shared" / "example_policy.yaml"
CASES = ROOT / "docs" / "examples" / "policy-cases.yaml"

runner = CliRunner()


def leadrelay(*args: str) -> "object":
    return runner.invoke(app, [*map(str, args)], catch_exceptions=False)


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    result = leadrelay("demo", "leads", "500", "--seed", "3")
    assert result.exit_code == 0
    path = tmp_path_factory.mktemp("leads") / "leads.jsonl"
    path.write_text(result.stdout)
    return path


def test_validate_accepts_the_example_and_names_the_problems_of_a_bad_policy(tmp_path: Path) -> None:
    ok = leadrelay("policy", "validate", POLICY)
    assert ok.exit_code == 0 and "valid" in ok.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("teams: [{name: sales, manager: m}]\nreps: [{id: rep-a, team: salse}]\nrules: [{name: all}]\n")
    result = leadrelay("policy", "validate", bad)
    assert result.exit_code == 1
    assert "reps[0].team: unknown team 'salse' (did you mean 'sales'?)" in result.stderr


def test_the_example_cases_pass(tmp_path: Path) -> None:
    result = leadrelay("policy", "test", POLICY, "--cases", CASES)
    assert result.exit_code == 0, result.stdout
    assert "12 passed, 0 failed" in result.stdout
    assert "FAIL" not in result.stdout


def test_a_failing_case_exits_1_and_shows_the_decisions_explanation(tmp_path: Path) -> None:
    cases = tmp_path / "cases.yaml"
    cases.write_text(yaml.safe_dump({"cases": [
        {"name": "brazil goes to the americas desk", "lead": {"email": "a@gmail.com", "country": "BR"},
         "expect": {"owner": "rep-ana"}},
        {"name": "brazil goes to rep-chen", "lead": {"email": "a@gmail.com", "country": "BR"},
         "expect": {"owner": "rep-chen"}},
    ]}))
    result = leadrelay("policy", "test", POLICY, "--cases", cases)
    assert result.exit_code == 1
    assert "1 passed, 1 failed" in result.stdout
    assert "owner: expected rep-chen, got rep-ana" in result.stdout
    assert "Candidates:" in result.stdout and "wrong territory" in result.stdout


def test_a_broken_cases_file_exits_2_with_the_path_of_the_problem(tmp_path: Path) -> None:
    cases = tmp_path / "cases.yaml"
    cases.write_text("cases:\n  - {name: x, lead: {colour: red}, expect: {}}\n")
    result = leadrelay("policy", "test", POLICY, "--cases", cases)
    assert result.exit_code == 2
    assert "cases[0].lead.colour: unknown field" in result.stderr


def test_diff_says_what_changes_in_words(tmp_path: Path) -> None:
    new = tmp_path / "new.yaml"
    new.write_text(POLICY.read_text().replace("capacity: {open: 40, per_day: 15}\n    timezone: Asia/Shanghai",
                                              "capacity: {open: 60, per_day: 15}\n    timezone: Asia/Shanghai"))
    result = leadrelay("policy", "diff", POLICY, new)
    assert result.exit_code == 0
    assert "Rep rep-li: capacity.open changes from 40 to 60." in result.stdout
    same = leadrelay("policy", "diff", POLICY, POLICY)
    assert "No differences" in same.stdout


def test_simulate_prints_the_tables(demo_file: Path) -> None:
    result = leadrelay("policy", "simulate", POLICY, "--leads", demo_file)
    assert result.exit_code == 0, result.stderr
    for heading in ("Per rep", "Per team", "Rule hits", "500 leads", "Gini"):
        assert heading in result.stdout


def test_simulate_against_another_policy_as_json(demo_file: Path, tmp_path: Path) -> None:
    proposed = tmp_path / "proposed.yaml"
    proposed.write_text(POLICY.read_text().replace("strategy: least_loaded", "strategy: round_robin"))
    result = leadrelay("policy", "simulate", proposed, "--leads", demo_file, "--against", POLICY, "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["leads"] == 500 and report["rejected"] == 0
    run = report["run"]
    assert run["assigned"] + run["unassigned_total"] == 500
    assert sum(rep["received"] for rep in run["reps"]) == run["assigned"]
    assert run["capacity_breaches"] == 0 and run["off_hours_assignments"] == 0
    assert report["baseline"]["leads"] == 500
    assert report["changes"]["changed"] >= 0


def test_simulate_reads_csv_and_reports_rows_intake_would_refuse(tmp_path: Path) -> None:
    csv = tmp_path / "leads.csv"
    csv.write_text(
        "email,country,region,employees,source,received_at\n"
        "a@acme-example.cn,CN,Shanghai,800,referral,2026-06-03T10:00:00+08:00\n"
        "b@gmail.com,BR,,5,web,2026-06-03T10:05:00+08:00\n"
        "not-an-email,CN,Shanghai,5,web,2026-06-03T10:06:00+08:00\n"
    )
    result = leadrelay("policy", "simulate", POLICY, "--leads", csv, "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["leads"], report["rejected"]) == (2, 1)
    assert report["run"]["rule_hits"] == {"enterprise-by-territory": 1, "by-territory": 1}


def test_schema_prints_the_policy_json_schema() -> None:
    result = leadrelay("policy", "schema")
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert schema["title"] == "Leadrelay routing policy"
    assert "reps" in schema["properties"]


def test_demo_leads_are_json_lines_and_the_seed_repeats_them() -> None:
    first = leadrelay("demo", "leads", "20", "--seed", "9")
    again = leadrelay("demo", "leads", "20", "--seed", "9")
    lines = first.stdout.splitlines()
    assert len(lines) == 20 and first.stdout == again.stdout
    assert all({"source", "received_at"} <= json.loads(line).keys() for line in lines)


def test_validate_prints_shape_and_reference_problems_in_one_pass(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("teams: [{name: sales, manager: m}]\n"
                   "reps: [{id: rep-a, team: salse, capacity: {open: lots}}]\n"
                   "rules: [{name: all}]\n")
    result = leadrelay("policy", "validate", bad)
    assert result.exit_code == 1
    problems = result.stderr.splitlines()[1:]
    assert problems == [
        "reps[0].capacity.open: input should be a valid integer, unable to parse string as an integer",
        "reps[0].team: unknown team 'salse' (did you mean 'sales'?)",
    ]


def test_validate_checks_the_references_a_shape_problem_leaves_readable(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("teams: {sales: {manager: m}}\n"  # not a list: team names cannot be read
                   "reps: [{id: rep-a, team: salse}]\n"
                   "rules: [{name: all, pool: {reps: [rep-b]}}]\n")
    result = leadrelay("policy", "validate", bad)
    assert result.exit_code == 1
    assert "teams: input should be a valid tuple" in result.stderr
    assert "rules[0].pool.reps[0]: unknown rep 'rep-b' (did you mean 'rep-a'?)" in result.stderr
    assert "unknown team" not in result.stderr


def test_simulate_never_cuts_rep_ids_and_explains_its_figures(demo_file: Path, tmp_path: Path) -> None:
    long_id = "rep-morgan-fitzgerald-of-the-london-office"
    policy = tmp_path / "long-ids.yaml"
    policy.write_text(POLICY.read_text().replace("rep-morgan", long_id))
    result = leadrelay("policy", "simulate", policy, "--leads", demo_file, "--against", POLICY)
    assert result.exit_code == 0, result.stderr
    row = next(line for line in result.stdout.splitlines() if long_id in line)
    assert "enterprise" in row and "…" not in result.stdout.split("Per team")[0]
    for line in ("share     the rep's part of the assigned leads",
                 "vs fair   share ÷ fair; 1.00 is exactly fair, 2.00 twice the fair part, 0.50 half",
                 "Gini      how unevenly those reps got leads: 0 all alike, towards 1 all to a few"):
        assert line in result.stdout
