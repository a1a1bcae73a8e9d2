"""Routing rules, their pools, the team pool's claim limits, and the fallback queue. Pure.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import (
    Field,
    model_validator,
)

from leadrelay.shared.policy.conditions import Condition
from leadrelay.shared.policy.values import (
    MATCH_DIMENSIONS,
    Duration,
    Grade,
    Identifier,
    MatchDimension,
    Names,
    Percentage,
    PickStrategy,
    Section,
    Seniority,
    Strategy,
    When,
    raise_problems,
)

# --- routing -----------------------------------------------------------------------------------

# What happens to a lead that arrives when every rep covering it is off shift (not paused, not
# out of office, not at capacity: off hours or a holiday). ``backup``: the reps' backups, else the
# fallback queue (as when they are busy); ``hold``: the lead waits and is routed at the first
# minute one of them comes on shift; ``pool``: straight to the team pool for anyone to claim.
AfterHours = Literal["hold", "backup", "pool"]


class Pool(Section):
    """Who a rule may pick from. Selectors combine with AND; an empty pool is every rep.
    ``match`` keeps reps whose territories / industries / languages cover the lead's."""

    team: str | None = None
    reps: Names = ()
    seniority: tuple[Seniority, ...] = ()
    match: tuple[MatchDimension, ...] = ()

    def is_empty(self) -> bool:
        return self == Pool()


class RoutingRule(Section):
    """``when`` the lead matches, pick from ``pool`` with ``strategy``. The narrowing
    strategies (territory, industry, value_tier) narrow the pool, then pick with ``then``."""

    name: Identifier
    when: When = Condition.always()
    strategy: Strategy = "round_robin"
    pool: Pool = Pool()
    then: PickStrategy | None = None
    tiers: dict[Grade, tuple[Seniority, ...]] | None = None  # value_tier: grade -> seniorities
    floor: Percentage | None = None  # performance_weighted: lowest conversion rate counted
    # When everyone covering the lead is off shift: None follows the policy's ``after_hours``.
    after_hours: AfterHours | None = None

    @model_validator(mode="after")
    def _options_fit_strategy(self) -> RoutingRule:
        problems = []
        narrowing = self.strategy in ("territory", "industry", "value_tier")
        if self.then is not None and not narrowing:
            problems.append(("then", "only territory, industry and value_tier take 'then'"))
        if self.strategy == "value_tier" and not self.tiers:
            problems.append(("tiers", "the value_tier strategy needs tiers, e.g. {hot: [senior]}"))
        if self.tiers is not None and self.strategy != "value_tier":
            problems.append(("tiers", "only the value_tier strategy takes tiers"))
        uses_floor = "performance_weighted" in (self.strategy, self.then)
        if self.floor is not None and not uses_floor:
            problems.append(("floor", "only performance_weighted takes a floor"))
        if self.strategy == "owner" and not self.pool.is_empty():
            problems.append(("pool", "the owner strategy picks the lead's owner; it takes no pool"))
        raise_problems(problems)
        return self

    @property
    def picker(self) -> PickStrategy | Literal["owner"]:
        """The strategy that finally chooses among the available candidates."""
        if self.strategy in ("territory", "industry", "value_tier"):
            return self.then or "round_robin"
        return self.strategy  # type: ignore[return-value]

    @property
    def match_dimensions(self) -> tuple[MatchDimension, ...]:
        implied = {"territory": "territory", "industry": "industry"}.get(self.strategy)
        wanted = set(self.pool.match) | ({implied} if implied else set())
        return tuple(dimension for dimension in MATCH_DIMENSIONS if dimension in wanted)

    @property
    def performance_floor(self) -> float:
        return 0.05 if self.floor is None else self.floor


class PoolPolicy(Section):
    """The team pool (公海): who may claim recycled and unassigned leads, and how often."""

    claims_per_day: int | None = Field(default=20, ge=0)  # per rep; None = no limit
    min_interval: Duration | None = None  # between two claims by the same rep
    previous_owner_cooldown: Duration = timedelta(days=3)  # a recycled lead's old owner waits this long


class Fallback(Section):
    queue: str = "unassigned"
    notify: Names = ()


