"""Scoring: points from matching rules, a grade from the total, and a reason for every point."""

import pytest

from leadrelay.services.scoring.scoring import Reason, score_lead
from leadrelay.shared.policy import ScoringPolicy

SKETCH = ScoringPolicy.model_validate(
    {
        "rules": [
            {"when": {"source": "referral"}, "points": 30},
            {"when": {"title": {"matches": r"(?i)\b(cto|ceo|vp|director)\b|总监|总经理"}}, "points": 20},
            {"when": {"employees": {"gte": 500}}, "points": 15},
            {"name": "free-mail", "when": {"email": {"free_domain": True}}, "points": -10},
        ],
        "grades": {"hot": 60, "warm": 30},
    }
)


def test_adds_up_the_points_of_every_matching_rule_in_policy_order() -> None:
    result = score_lead({"source": "referral", "title": "CTO", "employees": 800}, SKETCH)
    assert result.score == 65
    assert result.grade == "hot"
    assert result.reasons == [("scoring.rules[0]", 30), ("scoring.rules[1]", 20), ("scoring.rules[2]", 15)]


def test_reasons_unpack_as_rule_and_points() -> None:
    [(rule, points)] = score_lead({"email": "a@gmail.com"}, SKETCH).reasons
    assert (rule, points) == ("free-mail", -10)
    assert score_lead({"email": "a@gmail.com"}, SKETCH).reasons == [Reason(rule="free-mail", points=-10)]


def test_negative_points_lower_the_score() -> None:
    result = score_lead({"source": "referral", "email": "boss@qq.com"}, SKETCH)
    assert result.score == 20
    assert result.grade == "cold"


def test_a_lead_no_rule_matches_scores_zero_and_is_cold() -> None:
    result = score_lead({}, SKETCH)
    assert (result.score, result.grade, result.reasons) == (0, "cold", [])


def test_chinese_titles_count_as_decision_makers() -> None:
    assert score_lead({"title": "销售总监"}, SKETCH).score == 20


@pytest.mark.parametrize(
    ("facts", "grade"),
    [
        ({"source": "referral"}, "warm"),  # 30: exactly warm
        ({"source": "referral", "employees": 500, "email": "x@163.com"}, "warm"),  # 35
        ({"source": "referral", "title": "VP Sales", "employees": 501, "email": "x@gmail.com"}, "warm"),  # 55
        ({"source": "referral", "title": "CEO", "employees": 999}, "hot"),  # 65
        ({"title": "director", "employees": 9000}, "warm"),  # 35
        ({"employees": 499}, "cold"),
    ],
)
def test_grades_follow_the_thresholds(facts: dict, grade: str) -> None:
    assert score_lead(facts, SKETCH).grade == grade


@pytest.mark.parametrize(("score", "grade"), [(60, "hot"), (59, "warm"), (30, "warm"), (29, "cold"), (-5, "cold")])
def test_thresholds_are_inclusive(score: int, grade: str) -> None:
    assert SKETCH.grades.grade_for(score) == grade
