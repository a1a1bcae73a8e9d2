"""Policy problems at their lines (``shared/lab/locate.py``) and the editor's masked credentials put
back (``shared/shell/console/ops_work.restore_masked``)."""

from __future__ import annotations

from leadrelay.services.router.views import masked_policy
from leadrelay.shared.lab.locate import LocatedProblem, locate_problems
from leadrelay.shared.policy import PolicyError, load_policy
from leadrelay.shared.shell.bootstrap import bundled_policy_text
from leadrelay.shared.shell.console.ops_work import check_policy, restore_masked

DOCUMENT = """\
version: 1
timezone: Asia/Shanghai
reps:
  - id: rep-a
    team: east
  - id: rep-b
    teem: east
rules:
  - name: first
    when: {attributes.plan: pro}
    strategy: round_robbin
"""


def line_of(text: str, needle: str) -> int:
    return next(number for number, line in enumerate(text.splitlines(), start=1) if needle in line)


def test_a_path_points_at_its_key_and_a_missing_field_at_the_item_that_lacks_it():
    located = locate_problems(DOCUMENT, [
        "rules[0].strategy: input should be 'round_robin'",
        "reps[1].teem: unknown field",
        "reps[1].team: required",
        "rules[0].when.attributes.plan: not a known field",
        "accounts: required",
        "(document): the policy must be a mapping",
    ])
    assert [problem.line for problem in located] == [11, 7, 6, 10, None, None]
    assert located[0] == LocatedProblem(11, "rules[0].strategy", "input should be 'round_robin'")
    assert str(located[1]) == "line 7: reps[1].teem: unknown field"
    assert located[5] == LocatedProblem(None, "", "the policy must be a mapping")


def test_an_index_past_the_end_stops_at_the_list():
    assert locate_problems(DOCUMENT, ["reps[9].id: required"])[0].line == 3


def test_a_syntax_error_keeps_the_line_the_parser_gave():
    text = "version: 1\nreps: [\n"
    try:
        load_policy(text)
    except PolicyError as exc:
        problems = exc.problems
    located = locate_problems(text, problems)
    assert len(located) == 1 and located[0].line == 3 and located[0].path == ""


def test_every_problem_of_the_bundled_policy_broken_twice_is_found_at_its_line():
    text = bundled_policy_text()
    broken = text.replace("strategy: round_robin", "strategy: round_robbin", 1).replace("team: ", "teem: ", 1)
    check = check_policy(broken)
    assert not check.valid
    lines = {problem.path: problem.line for problem in check.problems}
    assert lines["rules[3].strategy"] == line_of(broken, "round_robbin")
    assert lines["reps[0].teem"] == line_of(broken, "teem: ")


def test_a_document_nested_too_deeply_is_a_problem_not_a_crash():
    check = check_policy("a: " + "[" * 5000 + "]" * 5000)
    assert not check.valid and check.problems


def test_masked_credentials_are_put_back_for_the_same_person_only():
    text = bundled_policy_text()
    policy = load_policy(text)
    masked = masked_policy(text, policy)
    assert masked != text and "…" in masked
    assert restore_masked(masked, policy) == text
    # rep-li renamed: the mask on the renamed rep is not rep-li's any more and stays masked
    renamed = masked.replace("id: rep-li,", "id: rep-lee,").replace("id: rep-li\n", "id: rep-lee\n")
    restored = restore_masked(renamed, policy)
    assert "/slack/rep-li\"" not in restored and "/slack/rep-tanaka" in restored
    assert restore_masked(masked, None) == masked
    assert restore_masked("a: [", policy) == "a: ["
