"""The scoring section: rules that add points, and the grades the score falls into. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import (
    model_validator,
)

from leadrelay.shared.policy.conditions import Condition
from leadrelay.shared.policy.values import Grade, Section, When, duplicate_problems, problems_error, raise_problems

# --- scoring -----------------------------------------------------------------------------------


class Grades(Section):
    """Score thresholds: ``score >= hot`` is hot, ``score >= warm`` is warm, else cold."""

    hot: int = 60
    warm: int = 30

    @model_validator(mode="after")
    def _ordered(self) -> Grades:
        if self.hot <= self.warm:
            raise problems_error([("hot", f"must be above warm ({self.warm})")])
        return self

    def grade_for(self, score: int) -> Grade:
        return "hot" if score >= self.hot else "warm" if score >= self.warm else "cold"


class ScoringRule(Section):
    name: str  # given as scoring.rules[i] when the document leaves it out
    when: When = Condition.always()
    points: int


class ScoringPolicy(Section):
    rules: tuple[ScoringRule, ...] = ()
    grades: Grades = Grades()

    @model_validator(mode="before")
    @classmethod
    def _name_rules(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and isinstance(data.get("rules"), list):
            rules = [
                {"name": f"scoring.rules[{i}]", **rule} if isinstance(rule, Mapping) else rule
                for i, rule in enumerate(data["rules"])
            ]
            data = {**data, "rules": rules}
        return data

    @model_validator(mode="after")
    def _unique_names(self) -> ScoringPolicy:
        names = [rule.name for rule in self.rules]
        raise_problems(duplicate_problems("rules", "name", names, "rule name", shown_as="scoring.rules"))
        return self


