"""The ways of choosing one rep among the available candidates of a routing rule.

Each strategy is a pure function that returns a :class:`Pick`: who, a one-line summary, and
the arithmetic behind it (JSON-ready, stored with the decision so "why rep-a?" has an answer).
Ties are always broken by rep id, so the same inputs give the same pick.

Rotation strategies (round robin and its weighted form) walk a *ring*: the reps eligible for
the lead, sorted by id, including those unavailable right now, so a rep stepping out for a
meeting does not shift everyone's position. The cursor is a counter that only grows; the turn
is ``cursor mod len(ring)``; the first available rep from the turn onwards is chosen; and the
cursor moves to just past the chosen rep. Over N always-available reps, after k*N leads each
has had exactly k.

A rep joining or leaving the ring changes its length, so from then on the turn is taken modulo
the new length. The counter carries on (there is no reset and no catch-up burst for a newcomer,
who takes the place their id sorts to), but the first turn after the change may land on a
different rep than the old ring would have given: one rep may get one extra lead, or wait one
extra turn. The rotation is exact again from there.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from statistics import median
from typing import Any

from leadrelay.services.router.availability import IDLE, RepLoad

_LONG_AGO = datetime.min.replace(tzinfo=UTC)


class Pick:
    """Who a strategy chose, with a one-line ``summary`` and the ``arithmetic`` behind it.

    The words and the arithmetic are only needed when a decision is explained, so a strategy
    may pass ``describe`` instead: a function returning (summary, arithmetic), called the first
    time either is read. ``next_cursor`` is the rotation cursor after this pick (rotation
    strategies only)."""

    __slots__ = ("_arithmetic", "_describe", "_summary", "next_cursor", "rep")

    def __init__(
        self,
        rep: str | None,
        summary: str = "",
        arithmetic: dict[str, Any] | None = None,
        next_cursor: int | None = None,
        *,
        describe: Callable[[], tuple[str, dict[str, Any]]] | None = None,
    ) -> None:
        self.rep = rep
        self.next_cursor = next_cursor
        self._summary = summary
        self._arithmetic = {} if arithmetic is None else arithmetic
        self._describe = describe

    def _described(self) -> None:
        if self._describe is not None:
            self._summary, self._arithmetic = self._describe()
            self._describe = None

    @property
    def summary(self) -> str:
        self._described()
        return self._summary

    @property
    def arithmetic(self) -> dict[str, Any]:
        self._described()
        return self._arithmetic

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Pick):
            return NotImplemented
        return (self.rep, self.summary, self.arithmetic, self.next_cursor) == (
            other.rep,
            other.summary,
            other.arithmetic,
            other.next_cursor,
        )

    __hash__ = None  # type: ignore[assignment]  # mutable-looking: the arithmetic is a dict

    def __repr__(self) -> str:
        return f"Pick(rep={self.rep!r}, summary={self.summary!r}, next_cursor={self.next_cursor!r})"


def round_robin(ring: Sequence[str], available: Collection[str], cursor: int) -> Pick:
    """The first available rep at or after position ``cursor mod len(ring)``."""
    return _rotate(ring, available, cursor, lambda: {"ring": list(ring)})


def weighted_round_robin(
    ring: Sequence[str], weights: Mapping[str, int], available: Collection[str], cursor: int
) -> Pick:
    """Round robin over a cycle of slots in which each rep appears ``weight`` times, spread
    evenly (smooth weighted round robin, as nginx does), so a weight-3 rep gets three of
    every (3 + the others' weights) leads without getting them back to back."""
    slots = weighted_cycle(tuple((rep, weights[rep]) for rep in ring))
    return _rotate(slots, available, cursor, lambda: {"weights": {rep: weights[rep] for rep in ring}, "cycle": list(slots)})


def _rotate(
    slots: Sequence[str], available: Collection[str], cursor: int, shown: Callable[[], dict[str, Any]]
) -> Pick:
    """The rotation itself; ``shown`` gives the strategy's own arithmetic (the ring, or the weights)."""
    size = len(slots)
    start = cursor % size
    for offset in range(size):
        rep = slots[(start + offset) % size]
        if rep in available:

            def describe(rep: str = rep, offset: int = offset) -> tuple[str, dict[str, Any]]:
                skipped = [slots[(start + step) % size] for step in range(offset)]
                arithmetic = {
                    **shown(),
                    "cursor": cursor,
                    "turn": f"{cursor} mod {size} = {start}",
                    "turn_of": slots[start],
                    "skipped_unavailable": skipped,
                    "chosen": rep,
                    "next_cursor": cursor + offset + 1,
                }
                summary = f"turn {cursor} mod {size} = {start} is {slots[start]}'s"
                if skipped:
                    summary += f"; passed over unavailable {', '.join(dict.fromkeys(skipped))}"
                return summary, arithmetic

            return Pick(rep, next_cursor=cursor + offset + 1, describe=describe)
    return Pick(None, "nobody in the ring is available", {**shown(), "cursor": cursor})


@lru_cache(maxsize=1024)
def weighted_cycle(weights: tuple[tuple[str, int], ...]) -> tuple[str, ...]:
    """One full cycle of smooth weighted round robin: each rep appears ``weight`` times.
    Each step every rep gains its weight; the richest (first by ring order on ties) is chosen
    and pays the total back."""
    total = sum(weight for _, weight in weights)
    current = dict.fromkeys((rep for rep, _ in weights), 0)
    cycle = []
    for _ in range(total):
        for rep, weight in weights:
            current[rep] += weight
        chosen = max(current, key=lambda rep: current[rep])  # max keeps the first of equals
        current[chosen] -= total
        cycle.append(chosen)
    return tuple(cycle)


def least_loaded(candidates: Sequence[str], loads: Mapping[str, RepLoad]) -> Pick:
    """Fewest open leads; then fewest given today; then longest since their last lead; then id."""

    def order(rep: str) -> tuple[int, int, datetime, str]:
        load = loads.get(rep, IDLE)
        return (load.open, load.assigned_today, _aware(load.last_assigned_at), rep)

    ranked = sorted(candidates, key=order)
    chosen = ranked[0]
    # The loads are read now: the caller's roster may move on before the words are wanted.
    seen = {rep: loads.get(rep, IDLE) for rep in ranked}

    def describe() -> tuple[str, dict[str, Any]]:
        compared = {
            rep: {"open": load.open, "today": load.assigned_today, "last_assigned_at": _iso(load.last_assigned_at)}
            for rep, load in seen.items()
        }
        summary = f"{chosen} has the fewest open leads ({compared[chosen]['open']})"
        if len(ranked) > 1 and seen[ranked[1]].open == seen[chosen].open:
            summary += ", ties broken by today's count, then longest waiting, then id"
        return summary, {"loads": compared, "order": "open, today, last_assigned_at, id", "chosen": chosen}

    return Pick(chosen, describe=describe)


def performance_weighted(candidates: Sequence[str], loads: Mapping[str, RepLoad], floor: float) -> Pick:
    """Leads in proportion to conversion rate: the rep whose share of today's leads is furthest
    behind their rate is next (lowest ``(assigned_today + 1) / weight``). Weights never drop
    below ``floor``, and a rep with no track record counts at the pool's median rate, so new
    and struggling reps keep getting leads to learn on."""
    known = [rate for rep in candidates if (rate := loads.get(rep, IDLE).conversion_rate) is not None]
    default_rate = median(known) if known else floor
    weights = {}
    for rep in candidates:
        rate = loads.get(rep, IDLE).conversion_rate
        weights[rep] = max(default_rate if rate is None else rate, floor)
    next_share = {rep: (loads.get(rep, IDLE).assigned_today + 1) / weights[rep] for rep in candidates}
    chosen = min(candidates, key=lambda rep: (next_share[rep], -weights[rep], rep))
    arithmetic = {
        "floor": floor,
        "rates": {rep: loads.get(rep, IDLE).conversion_rate for rep in candidates},
        "unknown_rate_counts_as": round(default_rate, 4),
        "weights": {rep: round(weight, 4) for rep, weight in weights.items()},
        "next_share": {rep: round(share, 4) for rep, share in next_share.items()},
        "chosen": chosen,
    }
    summary = (
        f"{chosen} is furthest behind their share: (today {loads.get(chosen, IDLE).assigned_today} + 1)"
        f" / weight {weights[chosen]:.3g} = {next_share[chosen]:.3g}, the lowest"
    )
    return Pick(chosen, summary, arithmetic)


def by_credit(candidates: Sequence[str], credits: Mapping[str, int]) -> Pick | None:
    """A rep holding credit (an extra lead a manager granted, e.g. after a junk lead) goes
    first: the most credit, then id. Returns None when nobody holds any."""
    holders = [rep for rep in candidates if credits.get(rep, 0) > 0]
    if not holders:
        return None
    chosen = min(holders, key=lambda rep: (-credits[rep], rep))
    balance = credits[chosen]
    return Pick(
        chosen,
        f"{chosen} held {balance} credit{'s' if balance != 1 else ''} and spent one; the rotation did not move",
        {"credits": {rep: credits[rep] for rep in holders}, "chosen": chosen, "balance_after": balance - 1},
    )


def _aware(moment: datetime | None) -> datetime:
    if moment is None:
        return _LONG_AGO
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None
