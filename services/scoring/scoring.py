"""Lead scoring: points from the policy's scoring rules, and the grade they add up to.

Pure: the lead's facts and the policy's scoring section in, a :class:`ScoreResult` out. Every
matching rule counts once, in document order, and is named in the reasons, so a score can
always be explained rule by rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from leadrelay.shared.policy import Grade, ScoringPolicy


class Reason(NamedTuple):
    rule: str
    points: int


@dataclass(frozen=True)
class ScoreResult:
    score: int
    grade: Grade
    reasons: list[Reason]  # the rules that matched, in policy order


def score_lead(facts: Mapping[str, Any], scoring: ScoringPolicy) -> ScoreResult:
    """Sums the points of every scoring rule whose ``when`` matches ``facts`` and grades the
    total against ``scoring.grades``. A lead no rule matches scores 0."""
    reasons = [Reason(rule.name, rule.points) for rule in scoring.rules if rule.when.matches(facts)]
    score = sum(reason.points for reason in reasons)
    return ScoreResult(score=score, grade=scoring.grades.grade_for(score), reasons=reasons)
