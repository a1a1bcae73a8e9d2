"""A policy's own test cases: what they can say, and how a failure reads."""

from pathlib import Path

import pytest

from leadrelay.shared.lab.cases import CasesError, load_cases, run_cases
from leadrelay.shared.policy import load_policy

ROOT = Path(__file__).resolve().parents[2]
POLICY = load_policy((ROOT / "shared" / "example_policy.yaml").read_text())


def run(text: str) -> list:
    return run_cases(POLICY, load_cases(text))


def test_the_documented_example_cases_pass_against_the_bundled_policy() -> None:
    results = run((ROOT / "docs" / "examples" / "policy-cases.yaml").read_text())
    assert len(results) >= 8
    assert [result.failures for result in results if not result.passed] == []


def test_a_passing_case_has_no_failures_and_keeps_its_decision() -> None:
    [result] = run("""
cases:
  - name: a Brazilian lead goes to the Americas desk
    lead: {email: joao@gmail.com, country: BR}
    expect: {owner: rep-ana, rule: by-territory, team: smb}
""")
    assert result.passed and result.failures == []
    assert result.decision is not None and result.decision.owner == "rep-ana"


def test_a_failing_case_says_what_was_expected_and_what_happened_with_the_explanation() -> None:
    [result] = run("""
cases:
  - name: a hot lead from Shanghai in manufacturing never goes to rep-li
    lead: {email: ceo@hengxin-mfg.com.cn, title: CEO, country: CN, region: Shanghai,
           industry: manufacturing, employees: 2000, source: referral}
    expect: {not_owner: [rep-li], rule: by-territory}
""")
    assert not result.passed
    assert result.failures == [
        "owner: expected anyone but rep-li, got rep-li",
        "rule: expected by-territory, got hot-enterprise",
    ]
    assert "Score 65 (hot): referral +30, decision-maker +20, large-company +15." in result.explanation
    assert "-> rep-li, by rule 'hot-enterprise' (least_loaded), at 2026-06-03T10:00:00+08:00." in result.explanation
    assert "Candidates:" in result.explanation


def test_at_defaults_to_a_wednesday_morning_and_a_naive_time_is_in_the_policy_zone() -> None:
    results = run("""
cases:
  - name: office hours
    lead: {email: p@haier-example.com}
    expect: {owner: rep-li}
  - name: saturday night the backup takes it
    at: 2026-06-06T20:15
    lead: {email: p@haier-example.com}
    expect: {owner: rep-chen, via: backup}
""")
    assert [result.passed for result in results] == [True, True]
    assert results[0].decision.decided_at.isoformat() == "2026-06-03T10:00:00+08:00"


def test_roster_loads_and_score_overrides_shape_the_decision() -> None:
    [full, forced] = run("""
defaults:
  roster: {rep-chen: {open: 300}}
cases:
  - name: the SMB desk is full, so the Shanghai lead goes to rep-li
    lead: {email: a@163.com, country: CN, region: Shanghai}
    expect: {owner: rep-li}
  - name: a forced hot score routes through hot-enterprise
    lead: {email: a@163.com, country: CN, region: Shanghai, employees: 900, score: 99}
    roster: {rep-li: {open: 10}}
    expect: {grade: hot, score: 99, rule: hot-enterprise, owner_in: [rep-tanaka, rep-morgan]}
""")
    assert full.passed, full.failures
    assert forced.passed, forced.failures


def test_expecting_nobody_and_a_queue_reads_as_such() -> None:
    [result] = run("""
cases:
  - name: assigned, although we expected a queue
    lead: {email: a@gmail.com, country: BR}
    expect: {owner: null, queue: smb-pool}
""")
    assert result.failures == [
        "owner: expected nobody (a queue), got rep-ana",
        "queue: expected 'smb-pool', got rep-ana",
    ]


def test_a_typo_in_a_rep_team_or_rule_name_fails_the_case_instead_of_passing_for_ever() -> None:
    [result] = run("""
cases:
  - name: typos
    lead: {email: a@gmail.com, country: BR}
    roster: {rep-anna: {open: 1}}
    expect: {not_owner: [rep-x], team: smbb, rule: by-teritory}
""")
    assert not result.passed
    assert result.problems == [
        "roster: the policy has no rep 'rep-anna'",
        "expect.not_owner: the policy has no rep 'rep-x'",
        "expect.team: the policy has no team 'smbb'",
        "expect.rule: the policy has no rule 'by-teritory'",
    ]


def test_a_lead_intake_would_refuse_fails_the_case_with_the_field() -> None:
    [result] = run("""
cases:
  - name: bad phone
    lead: {phone: "12", country: CN}
    expect: {owner: rep-chen}
""")
    assert not result.passed
    assert result.failures[0].startswith("the case cannot run: lead.phone:")


def test_a_malformed_cases_file_lists_every_problem_with_its_path() -> None:
    with pytest.raises(CasesError) as error:
        load_cases("""
cases:
  - name: one
    lead: {email: a@b.cn, colour: red}
    expect: {owner: rep-li, owners: [rep-a]}
  - lead: {}
    expect: {}
""")
    assert error.value.problems == [
        "cases[0].lead.colour: unknown field",
        "cases[0].expect.owners: unknown field",
        "cases[1].name: Field required",
    ]
    with pytest.raises(CasesError, match="line 3"):
        load_cases("cases:\n  - {name: [\n")
    with pytest.raises(CasesError, match="no cases"):
        load_cases("cases: []")


def test_norway_stays_a_country_code_in_a_cases_file() -> None:
    cases = load_cases("cases:\n  - {name: n, lead: {country: NO}, expect: {}}\n")
    assert cases.cases[0].lead.country == "NO"


def test_a_case_can_expect_a_lead_held_for_the_next_shift() -> None:
    text = (ROOT / "shared" / "example_policy.yaml").read_text() + "\nafter_hours: hold\n"
    cases = load_cases("""
cases:
  - name: on a Saturday evening the account owner's lead waits for Monday morning
    at: 2026-06-06T20:15
    lead: {email: purchasing@haier-example.com, country: CN, region: Shandong, source: web}
    expect: {rule: named-account, via: hold, held_until: 2026-06-08T09:00}
  - name: the wrong hour reads as a failure
    at: 2026-06-06T20:15
    lead: {email: purchasing@haier-example.com, country: CN, region: Shandong, source: web}
    expect: {held_until: 2026-06-08T10:00}
""")
    held, wrong = run_cases(load_policy(text), cases)
    assert held.passed, held.failures
    assert held.decision is not None
    assert held.decision.summary == ("held until Mon 09:00 Asia/Shanghai: rep-li (owner of the account "
                                     "haier-example.com) is off shift")
    assert wrong.failures == ["held_until: expected 2026-06-08T10:00:00+08:00, got 2026-06-08T09:00:00+08:00"]
