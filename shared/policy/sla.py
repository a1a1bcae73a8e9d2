"""The SLA section: first-touch targets by grade, the handoff, the ladder, the pool's recycling. Pure.
"""

from __future__ import annotations

from datetime import timedelta
from itertools import pairwise
from typing import Literal

from pydantic import (
    model_validator,
)

from leadrelay.shared.policy.values import Duration, Grade, Percentage, Section, format_percentage, problems_error

# --- SLA ---------------------------------------------------------------------------------------


class FirstTouch(Section):
    """How soon the owner must contact a lead, by grade; ``null`` means no clock for that grade."""

    hot: Duration | None = timedelta(minutes=15)
    warm: Duration | None = timedelta(hours=4)
    cold: Duration | None = timedelta(days=1)


class Ladder(Section):
    """When each step fires, as a share of the SLA; ``null`` switches a step off."""

    remind: Percentage | None = 0.5
    escalate: Percentage | None = 1.0
    reassign: Percentage | None = 1.5

    @model_validator(mode="after")
    def _ascending(self) -> Ladder:
        steps = [(name, share) for name, share in self.steps() if share is not None]
        for (before, earlier), (name, later) in pairwise(steps):
            if later <= earlier:
                raise problems_error([(name, f"must come after {before} ({format_percentage(earlier)})")])
        return self

    def steps(self) -> list[tuple[str, float | None]]:
        return [("remind", self.remind), ("escalate", self.escalate), ("reassign", self.reassign)]


class SlaPolicy(Section):
    handoff: Duration = timedelta(hours=24)  # marketing -> sales: someone must accept within this
    first_touch: FirstTouch = FirstTouch()
    clock: Literal["business_hours", "wall"] = "business_hours"
    ladder: Ladder = Ladder()
    recycle_unworked_after: Duration | None = timedelta(days=7)  # back to the team pool
    # Set, an assignment is an offer the rep must accept within this time, else it passes to
    # the next candidate (the lead keeps its age: its other clocks run on).
    offer_timeout: Duration | None = None

    def first_touch_for(self, grade: Grade) -> timedelta | None:
        target: timedelta | None = getattr(self.first_touch, grade)
        return target


