"""Routing: which rep gets a lead under the policy, and why.

:func:`decide_route` is pure: the lead's facts, the policy, the roster's state (loads, rotation
cursors, credits) and the time go in; a :class:`RoutingDecision` comes out, including the state
changes for the caller to persist (``cursor_updates``, ``credit_updates``). It reads no clock,
touches no database and uses no randomness: the same inputs always give the same decision.

How a lead is routed:

1. Rules are tried in order and the first that applies decides. A rule is passed over when its
   ``when`` does not match the lead; when no rep of its pool covers the lead (no rep for the
   lead's territory, industry or language, or no tier for its grade); or, for ``owner``, when
   the lead has no known owner and no named account.
2. In the deciding rule each rep of the pool gets a verdict: dropped for not covering the lead,
   dropped as unavailable (paused, out of office, off hours, holiday, at capacity, daily cap),
   or kept.
3. Among the kept reps, one holding fairness credit goes first; otherwise the rule's strategy picks.
4. When reps cover the lead but none is available, it goes to the least loaded available
   backup of those reps; failing that it is parked in the team's fallback queue (the policy's
   when the team has none) and the team's manager is notified. It does *not* fall through to
   later rules: the rule says who should work such leads, and bending that is a manager's call.
   When they are all off shift (after hours, a holiday) the rule's ``after_hours`` decides
   instead: ``hold`` keeps the lead until the first minute one of them comes on shift
   (``held_until``; the caller routes it again then), ``pool`` sends it to the team pool.
5. When no rule applies, the lead is parked in the policy's fallback queue and
   ``fallback.notify`` is told.

Speed: :func:`route_lead` makes the same decision without writing its explanation, and
:meth:`RouteOutcome.decision` writes it on demand; :func:`decide_route` is the two together.
The simulator replays a million leads through :func:`route_lead`. What depends only on the
policy (rule pools sized to a kind of lead, territory membership, rep and team lookups) is
worked out once per :class:`Policy` object and remembered beside it; a policy is frozen, so
nothing remembered can go stale.
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict

from leadrelay.services.router import strategies
from leadrelay.services.router.availability import (
    IDLE,
    Reason,
    RepLoad,
    absent_at,
    describe_load,
    next_shift_start,
    profile_of,
    why_unavailable,
    why_unavailable_of,
)
from leadrelay.services.router.strategies import Pick
from leadrelay.shared.policy import WILDCARD, AccountMatch, MatchDimension, Policy, Rep, RoutingRule, Team
from leadrelay.shared.policy.conditions import domain_of

__all__ = [
    "CandidateVerdict",
    "RepLoad",
    "RosterState",
    "RouteOutcome",
    "RoutingDecision",
    "RoutingLead",
    "RoutingScope",
    "decide_route",
    "route_lead",
    "routing_scope",
]


class RoutingLead(NamedTuple):
    """A lead as the router sees it: its id and the flat facts that rules are written over
    (contact fields, ``source``, ``score``, ``grade``, ``email_domain``, ``known_owner``, ...)."""

    lead_id: str
    facts: Mapping[str, Any]


@dataclass(frozen=True)
class RosterState:
    """The roster's moving parts, as loaded by the caller. A rep without an entry in ``loads``
    carries nothing; a rule without a cursor starts at 0; a rep without credit has none."""

    loads: Mapping[str, RepLoad] = field(default_factory=dict)
    cursors: Mapping[str, int] = field(default_factory=dict)  # rotation counter per cursor key
    credits: Mapping[str, int] = field(default_factory=dict)  # fairness ledger balance per rep
    excluded: Mapping[str, str] = field(default_factory=dict)  # rep -> why not this time (an offer lapsed)

    def load_of(self, rep_id: str) -> RepLoad:
        return self.loads.get(rep_id, IDLE)


def _excluded(roster: RosterState, rep_id: str) -> Reason | None:
    reason = roster.excluded.get(rep_id)
    return (lambda: reason) if reason else None


# How the decision was reached: the rule's strategy, a fairness credit, a backup, a queue; or,
# everyone covering being off shift, held for the next shift or sent to the team pool.
Via = Literal["strategy", "credit", "backup", "queue", "hold", "pool", "protection"]  # protection: protection.py
# The queue of the team pool (公海), where recycled leads wait too.
POOL_QUEUE = "pool"


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CandidateVerdict(_Record):
    """One rep considered for a lead: kept (could take it) or dropped, and why."""

    rep: str
    kept: bool
    reason: str


class RoutingDecision(_Record):
    """Where a lead goes and the whole why, JSON-ready (``model_dump(mode="json")``).

    The caller persists the state changes with the assignment: ``cursor_updates`` holds the
    *new value* of each rotation cursor it moved (set it), ``credit_updates`` the *change* to
    each rep's credit balance (add it, e.g. -1 for a credit spent). The caller also records the
    policy version, which the decision does not know."""

    lead_id: str
    owner: str | None
    queue: str | None
    rule: str | None
    strategy: str  # the rule's strategy, or "fallback" when no rule applied
    via: Via
    summary: str
    matched_because: str = ""
    passed_over: list[str] = []
    candidates: list[CandidateVerdict] = []
    arithmetic: dict[str, Any] = {}
    cursor_updates: dict[str, int] = {}
    credit_updates: dict[str, int] = {}
    notify: list[str] = []
    # Held for the next shift: route it again at this instant (UTC), when a covering rep comes on.
    held_until: datetime | None = None
    decided_at: datetime

    @property
    def assigned(self) -> bool:
        return self.owner is not None

    def explain(self) -> str:
        """The decision in plain text, for a manager asking "why did this lead go there?"."""
        target = self.owner or ("held for the next shift" if self.held_until else f"queue {self.queue!r}")
        how = f"by rule {self.rule!r} ({self.strategy})" if self.rule else "by the policy's fallback"
        lines = [f"Lead {self.lead_id} -> {target}, {how}, at {self.decided_at.isoformat()}."]
        lines.append(f"Why: {self.summary}.")
        if self.matched_because == "always":
            lines.append("Rule matched: always (it has no conditions).")
        elif self.matched_because:
            lines.append(f"Rule matched: {self.matched_because}.")
        if self.passed_over:
            lines.append("Rules passed over:")
            lines += [f"  {line}" for line in self.passed_over]
        if self.candidates:
            width = max(len(verdict.rep) for verdict in self.candidates)
            lines.append("Candidates:")
            lines += [
                f"  {'kept   ' if verdict.kept else 'dropped'}  {verdict.rep:<{width}}  {verdict.reason}"
                for verdict in self.candidates
            ]
        if self.arithmetic:
            lines.append(f"Arithmetic: {json.dumps(self.arithmetic, ensure_ascii=False, sort_keys=True)}")
        if self.notify:
            lines.append(f"Notify: {', '.join(self.notify)}.")
        return "\n".join(lines)


# --- the decision ------------------------------------------------------------------------------


class RouteOutcome(NamedTuple):
    """A routing decision without its explanation: everything a caller needs to apply it.

    ``decision()`` builds the full :class:`RoutingDecision` (the one :func:`decide_route`
    returns, field for field). It reads only values captured when the outcome was made, so it
    may be called later, after the roster has moved on; the lead's facts must not be changed
    in between. (A named tuple: a million of them are made in a simulation.)"""

    lead_id: str
    owner: str | None
    queue: str | None
    rule: str | None
    strategy: str
    via: Via
    cursor_updates: dict[str, int]
    credit_updates: dict[str, int]
    notify: list[str]
    eligible: tuple[str, ...]  # the reps who covered the lead under the deciding rule, by id
    explained: Callable[[], RoutingDecision]

    @property
    def assigned(self) -> bool:
        return self.owner is not None

    def decision(self) -> RoutingDecision:
        return self.explained()


def decide_route(lead: RoutingLead, policy: Policy, roster: RosterState, now: datetime) -> RoutingDecision:
    """Decides where ``lead`` goes at ``now`` (timezone-aware). Returns the decision; raises
    ValueError for a naive ``now``. Never assigns to an unavailable rep."""
    return route_lead(lead, policy, roster, now).decision()


def route_lead(lead: RoutingLead, policy: Policy, roster: RosterState, now: datetime) -> RouteOutcome:
    """The decision of :func:`decide_route`, with its explanation left to
    :meth:`RouteOutcome.decision`. Raises ValueError for a naive ``now``."""
    zone = now.tzinfo
    if zone is not UTC and (zone is None or now.utcoffset() is None):
        raise ValueError("now must be timezone-aware")
    index = _indexes.get(id(policy))
    if index is None or index.policy is not policy:
        index = _index_of(policy)
    if index.has_accounts:
        lead = _with_account(lead, index)
    passed_over: list[tuple[str, str]] = []
    deciding = _deciding_pool(lead, index, passed_over)
    if deciding is not None:
        return _decide_within(deciding[0], deciding[1], index, roster, now, lead, passed_over)

    queue = policy.fallback.queue
    notify = list(policy.fallback.notify)

    def explained() -> RoutingDecision:
        return RoutingDecision(
            lead_id=lead.lead_id,
            owner=None,
            queue=queue,
            rule=None,
            strategy="fallback",
            via="queue",
            summary="no rule applied to this lead",
            passed_over=_passed(passed_over),
            notify=notify,
            decided_at=now,
        )

    return RouteOutcome(lead.lead_id, None, queue, None, "fallback", "queue", {}, {}, notify, (), explained)


def _deciding_pool(lead: RoutingLead, index: _PolicyIndex,
                   passed_over: list[tuple[str, str]]) -> tuple[RoutingRule, _RulePool] | None:
    """The rule that decides ``lead`` and its pool, noting in ``passed_over`` the rules before it
    and why; None when no rule applies. Reads the facts and the policy only (see RoutingScope)."""
    facts = lead.facts
    for rules in index.rules:
        rule = rules.rule
        if not rules.matches(facts):
            passed_over.append((rule.name, "conditions not met"))
            continue
        pool = rules.pool_for(lead, index)
        if not pool.ring:
            passed_over.append((rule.name, pool.why_empty))
            continue
        return rule, pool
    return None


class RoutingScope(NamedTuple):
    """The fairness state one decision over a lead may read or write: the rows its caller locks.

    The invariant that makes per-pool locking sound: **which rule decides a lead depends on the
    lead's facts and the policy only**. A rule is passed over for its conditions or for a pool
    that covers nobody, never for loads, cursors, credits or the time; a rule whose reps are all
    unavailable still decides (a backup, else its queue) and does not fall through. So a
    decision reads and writes inside one pool, and ``routing_scope`` names it before any state
    is read:

    - ``reps``: the deciding pool's ring and the backups of its members, by id. The decision
      reads their loads (availability, caps, least loaded) and the ring's credits, and writes
      the load of the one it picks and the credit it spends; no other rep's row.
    - ``cursors``: the pool's rotation cursor when its picker rotates (round robin, weighted
      round robin), the only cursor the decision reads or moves; none otherwise.

    Two decisions whose scopes are disjoint share no fairness row and may run side by side; two
    that overlap share a row and must take turns. ``route_lead`` over a roster holding only the
    scope's state decides exactly as over the whole roster (tests/unit/test_routing_scope.py)."""

    reps: tuple[str, ...] = ()
    cursors: tuple[str, ...] = ()

    def union(self, other: RoutingScope) -> RoutingScope:
        """Both scopes together: a transaction that makes several decisions locks them at once."""
        return RoutingScope(tuple(sorted({*self.reps, *other.reps})), tuple(sorted({*self.cursors, *other.cursors})))

    def with_reps(self, *reps: str | None) -> RoutingScope:
        """The scope and these reps too (an owner a decision releases, say); None is skipped."""
        return RoutingScope(tuple(sorted({*self.reps, *(rep for rep in reps if rep)})), self.cursors)


_ROTATING = ("round_robin", "weighted_round_robin")


def routing_scope(lead: RoutingLead, policy: Policy) -> RoutingScope:
    """The rows a decision over ``lead`` under ``policy`` may touch (see :class:`RoutingScope`).
    Pure and cheap: the pools it works out are the ones ``route_lead`` reuses."""
    index = _indexes.get(id(policy))
    if index is None or index.policy is not policy:
        index = _index_of(policy)
    if index.has_accounts:
        lead = _with_account(lead, index)
    deciding = _deciding_pool(lead, index, [])
    if deciding is None:
        return RoutingScope()
    rule, pool = deciding
    reps = tuple(sorted({*pool.ring_ids, *pool.backing}))
    return RoutingScope(reps, (pool.cursor_key,) if (pool.picker or rule.picker) in _ROTATING else ())


def _passed(passed_over: list[tuple[str, str]]) -> list[str]:
    return [f"{name}: {why}" for name, why in passed_over]


@dataclass(frozen=True)
class _RulePool:
    """A rule's pool sized to one kind of lead: who covers it (the ring) and who was dropped.
    Everything here depends on the policy and the lead's labels only, so a pool is worked out
    once per kind of lead and shared."""

    ring: tuple[Rep, ...]  # reps covering the lead, by id; the rotation ring
    dropped: tuple[CandidateVerdict, ...] = ()
    cursor_key: str = ""
    why_empty: str = ""
    owner_because: str = ""
    ring_ids: tuple[str, ...] = ()
    weights: dict[str, int] = field(default_factory=dict)
    backing: dict[str, str] = field(default_factory=dict)  # backup -> the rep they stand in for
    team: Team | None = None  # whose queue takes a lead nobody could
    judges: tuple[tuple[Rep, str, Any], ...] = ()  # (rep, id, availability profile) per ring member
    picker: str = ""  # the rule's picker (RoutingRule.picker), looked up once
    covers: str = ""  # what the ring covers, for "nobody covering ... on shift": the lead's territory, say


# A judged ring member: the rep, the load they carried, and why they cannot take it (None: can).
_Judged = tuple[Rep, RepLoad, Reason | None]


def _decide_within(
    rule: RoutingRule,
    pool: _RulePool,
    index: _PolicyIndex,
    roster: RosterState,
    now: datetime,
    lead: RoutingLead,
    passed_over: list[tuple[str, str]],
) -> RouteOutcome:
    loads = roster.loads
    excluded = roster.excluded
    judged: list[_Judged] = []
    available: list[str] = []  # in id order, as the ring is
    for rep, rep_id, profile in pool.judges:
        load = loads.get(rep_id, IDLE)
        why_not = (excluded and _excluded(roster, rep_id)) or why_unavailable_of(profile, load, now)
        judged.append((rep, load, why_not))
        if why_not is None:
            available.append(rep_id)

    def context() -> dict[str, Any]:
        return {
            "lead_id": lead.lead_id,
            "rule": rule.name,
            "strategy": rule.strategy,
            "matched_because": rule.when.explain(lead.facts),
            "passed_over": _passed(passed_over),
            "decided_at": now,
        }

    def verdicts() -> list[CandidateVerdict]:
        return sorted([*pool.dropped, *(_verdict(rep, load, why) for rep, load, why in judged)], key=_by_rep)

    if not available:
        return _backup_or_queue(rule, pool, index, roster, now, lead, context, verdicts)

    credits = roster.credits
    credit = strategies.by_credit(available, credits) if credits and rule.strategy != "owner" else None
    if credit is not None:
        assert credit.rep is not None
        credit_updates = {credit.rep: -1}

        def explained_credit() -> RoutingDecision:
            return RoutingDecision(
                **context(),
                owner=credit.rep,
                queue=None,
                via="credit",
                summary=credit.summary,
                candidates=verdicts(),
                arithmetic={"picked_by": "credit", **credit.arithmetic},
                credit_updates=credit_updates,
            )

        return RouteOutcome(lead.lead_id, credit.rep, None, rule.name, rule.strategy, "credit", {}, credit_updates, [],
                            pool.ring_ids, explained_credit)

    pick = _pick(rule, pool, available, roster)
    cursor_updates = {} if pick.next_cursor is None else {pool.cursor_key: pick.next_cursor}

    def explained() -> RoutingDecision:
        arithmetic = {"picked_by": rule.picker, **pick.arithmetic}
        if pick.next_cursor is not None:
            arithmetic["cursor_key"] = pool.cursor_key
        return RoutingDecision(
            **context(),
            owner=pick.rep,
            queue=None,
            via="strategy",
            summary=pick.summary,
            candidates=verdicts(),
            arithmetic=arithmetic,
            cursor_updates=cursor_updates,
        )

    return RouteOutcome(lead.lead_id, pick.rep, None, rule.name, rule.strategy, "strategy", cursor_updates, {}, [],
                        pool.ring_ids, explained)


def _verdict(rep: Rep, load: RepLoad, why_not: Reason | None, role: str = "") -> CandidateVerdict:
    """A rep's verdict as the explanation shows it; ``role`` prefixes the reason."""
    reason = why_not() if why_not is not None else f"available ({describe_load(rep, load)})"
    return CandidateVerdict(rep=rep.id, kept=why_not is None, reason=f"{role}{reason}")


def _by_rep(verdict: CandidateVerdict) -> str:
    return verdict.rep


def _pick(rule: RoutingRule, pool: _RulePool, available: list[str], roster: RosterState) -> Pick:
    ring = pool.ring_ids
    cursor = roster.cursors.get(pool.cursor_key, 0)
    match pool.picker or rule.picker:
        case "owner":
            owner = ring[0]
            return Pick(owner, f"{owner} is the {pool.owner_because}", {"owner": owner, "because": pool.owner_because})
        case "round_robin":
            return strategies.round_robin(ring, available, cursor)
        case "weighted_round_robin":
            return strategies.weighted_round_robin(ring, pool.weights, available, cursor)
        case "least_loaded":
            return strategies.least_loaded(available, roster.loads)
        case "performance_weighted":
            return strategies.performance_weighted(available, roster.loads, rule.performance_floor)


def _backup_or_queue(
    rule: RoutingRule,
    pool: _RulePool,
    index: _PolicyIndex,
    roster: RosterState,
    now: datetime,
    lead: RoutingLead,
    context: Callable[[], dict[str, Any]],
    verdicts: Callable[[], list[CandidateVerdict]],
) -> RouteOutcome:
    policy = index.policy
    mode = rule.after_hours or policy.after_hours
    if mode != "backup" and (shift := _after_hours(pool, roster, now)) is not None:
        return _hold_or_pool(mode, shift, rule, pool, index, now, lead, context, verdicts)
    # A backup stands in for a person, not for the rule's criteria: a backup dropped from the
    # pool for territory may still cover. Backups of backups are not chased.
    backing = pool.backing
    backups: list[tuple[Rep, RepLoad, Reason | None, str]] = []
    for backup, covered in backing.items():
        rep = index.reps[backup]
        load = roster.load_of(backup)
        backups.append((rep, load, _excluded(roster, backup) or why_unavailable(rep, policy, load, now), covered))

    def all_verdicts() -> list[CandidateVerdict]:
        return verdicts() + [_verdict(rep, load, why, f"backup for {covered}: ") for rep, load, why, covered in backups]

    available = [rep.id for rep, _, why, _ in backups if why is None]
    if available:
        pick = strategies.least_loaded(sorted(available), roster.loads)
        chosen = pick.rep
        assert chosen is not None

        def explained_backup() -> RoutingDecision:
            return RoutingDecision(
                **context(),
                owner=pick.rep,
                queue=None,
                via="backup",
                summary=f"{_nobody(rule, pool)}; {chosen} is backup for {backing[chosen]}",
                candidates=all_verdicts(),
                arithmetic={"picked_by": "least_loaded backup", "backups": backing, **pick.arithmetic},
            )

        return RouteOutcome(lead.lead_id, pick.rep, None, rule.name, rule.strategy, "backup", {}, {}, [],
                            pool.ring_ids, explained_backup)

    team = pool.team
    queue = (team.fallback_queue if team else None) or policy.fallback.queue
    notify = [team.manager] if team else list(policy.fallback.notify)

    def explained_queue() -> RoutingDecision:
        return RoutingDecision(
            **context(),
            owner=None,
            queue=queue,
            via="queue",
            summary=f"{_nobody(rule, pool)}{', nor any backup' if backing else ''}; parked in {queue}",
            candidates=all_verdicts(),
            arithmetic={"backups": backing, "team": team.name if team else None},
            notify=notify,
        )

    return RouteOutcome(lead.lead_id, None, queue, rule.name, rule.strategy, "queue", {}, {}, notify, pool.ring_ids,
                        explained_queue)


def _after_hours(pool: _RulePool, roster: RosterState, now: datetime) -> tuple[datetime, Rep] | None:
    """When every rep covering the lead is off shift: the first instant one comes on shift, and
    who. None when someone covering is on shift (busy, not after hours) or nobody will come: a
    paused rep, one out of office now, or one whose offer lapsed does not count as coming on."""
    first: tuple[datetime, Rep] | None = None
    for rep, rep_id, profile in pool.judges:
        if rep.paused or rep_id in roster.excluded or absent_at(profile, now):
            continue
        start = next_shift_start(profile, now)
        if start is None or absent_at(profile, start):
            continue
        if start <= now:
            return None
        if first is None or start < first[0]:
            first = (start, rep)
    return first


def _hold_or_pool(
    mode: str,
    shift: tuple[datetime, Rep],
    rule: RoutingRule,
    pool: _RulePool,
    index: _PolicyIndex,
    now: datetime,
    lead: RoutingLead,
    context: Callable[[], dict[str, Any]],
    verdicts: Callable[[], list[CandidateVerdict]],
) -> RouteOutcome:
    until, first = shift
    team = pool.team
    notify = [team.manager] if team else list(index.policy.fallback.notify)
    covering = pool.covers or (team.name if team else rule.name)
    zone = index.policy.timezone_of(first)
    local = until.astimezone(zone)
    when = f"{local:%a %H:%M} {zone.key}"
    if local.date() - now.astimezone(zone).date() >= timedelta(days=7):
        when = f"{local:%a %Y-%m-%d %H:%M} {zone.key}"
    arithmetic = {"after_hours": mode, "first_on_shift": first.id, "on_shift_at": until.astimezone(UTC).isoformat(),
                  "timezone": zone.key, "covering": covering, "team": team.name if team else None}
    if rule.strategy == "owner":
        off = f"{first.id} ({pool.owner_because}) is off shift"
    else:
        off = f"nobody covering {covering} on shift"
    if mode == "hold":
        def explained_hold() -> RoutingDecision:
            return RoutingDecision(
                **context(), owner=None, queue=None, via="hold",
                summary=f"held until {when}: {off}",
                candidates=verdicts(), arithmetic=arithmetic, notify=notify, held_until=until.astimezone(UTC),
            )

        return RouteOutcome(lead.lead_id, None, None, rule.name, rule.strategy, "hold", {}, {}, notify, pool.ring_ids,
                            explained_hold)

    def explained_pool() -> RoutingDecision:
        return RoutingDecision(
            **context(), owner=None, queue=POOL_QUEUE, via="pool",
            summary=f"{off} until {when}; sent to the team pool",
            candidates=verdicts(), arithmetic=arithmetic, notify=notify,
        )

    return RouteOutcome(lead.lead_id, None, POOL_QUEUE, rule.name, rule.strategy, "pool", {}, {}, notify,
                        pool.ring_ids, explained_pool)


def _nobody(rule: RoutingRule, pool: _RulePool) -> str:
    if rule.strategy == "owner":
        return f"{pool.ring[0].id} ({pool.owner_because}) was unavailable"
    return "nobody in the pool was available"


# --- what a policy fixes once ------------------------------------------------------------------

# Memo tables are bounded: leads carry free text (an industry, a city), and a stream of odd
# values must not grow a table without end. Past the bound a table starts over.
_MEMO_LIMIT = 65_536


class _PolicyIndex:
    """Lookups and memo tables for one :class:`Policy` object (see :func:`_index_of`)."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.reps: dict[str, Rep] = {rep.id: rep for rep in policy.reps}
        self.teams: dict[str, Team] = {team.name: team for team in policy.teams}
        # (name folded, ((fact, {values folded}), ...)) per territory, by name: Territory.contains.
        self.areas = tuple(
            (
                name.casefold(),
                tuple(
                    (position, frozenset(_folded(value) for value in values))
                    for position, values in enumerate((area.countries, area.regions, area.cities))
                    if values
                ),
            )
            for name, area in sorted(policy.territories.items())
        )
        self.places: dict[tuple[str, str, str], tuple[str, ...] | None] = {}
        self.raw_places: dict[tuple[str | None, str | None, str | None], tuple[str, ...] | None] = {}
        self.has_accounts = bool(policy.account_index)
        # (email domain, website, company) -> the lead's named account, if any
        self.accounts: dict[tuple[str | None, Any, Any], AccountMatch | None] = {}
        self.rules = tuple(_RuleIndex(rule, self) for rule in policy.rules)

    def territory_labels(self, facts: Mapping[str, Any]) -> tuple[str, ...] | None:
        country, region, city = facts.get("country"), facts.get("region"), facts.get("city")
        if _plain(country) and _plain(region) and _plain(city):
            # Text as written keys the memo (few places recur); anything else is folded first,
            # since 1 == 1.0 == True would share a key.
            raw = (country, region, city)
            found = self.raw_places.get(raw, _MISSING)
            if found is _MISSING:
                found = self._labels_of((_folded(country), _folded(region), _folded(city)))
                if len(self.raw_places) >= _MEMO_LIMIT:
                    self.raw_places.clear()
                self.raw_places[raw] = found
            return found  # type: ignore[no-any-return]
        return self._labels_of((_folded(country), _folded(region), _folded(city)))

    def _labels_of(self, location: tuple[str, str, str]) -> tuple[str, ...] | None:
        found = self.places.get(location, _MISSING)
        if found is _MISSING:
            found = self._territory_labels(location)
            if len(self.places) >= _MEMO_LIMIT:
                self.places.clear()
            self.places[location] = found
        return found  # type: ignore[no-any-return]

    def _territory_labels(self, location: tuple[str, str, str]) -> tuple[str, ...] | None:
        if not any(location):
            return None
        if self.policy.territories:
            return tuple(
                name for name, tests in self.areas if all(location[position] in values for position, values in tests)
            )
        return tuple(dict.fromkeys(value for value in location if value))

    def pool(self, rule: RoutingRule, ring: list[Rep], **fields: Any) -> _RulePool:
        in_ring = {rep.id for rep in ring}
        backing: dict[str, str] = {}
        for rep in ring:
            if rep.backup and rep.backup not in in_ring and rep.backup in self.reps:
                backing.setdefault(rep.backup, rep.id)
        return _RulePool(
            ring=tuple(ring),
            ring_ids=tuple(rep.id for rep in ring),
            judges=tuple((rep, rep.id, profile_of(rep, self.policy)) for rep in ring),
            picker=rule.picker,
            weights={rep.id: rep.weight for rep in ring},
            backing=backing,
            team=self._team_of(rule, ring),
            **fields,
        )

    def _team_of(self, rule: RoutingRule, ring: list[Rep]) -> Team | None:
        """The pool's team, else the one team of its reps."""
        if rule.pool.team is not None:
            return self.teams[rule.pool.team]
        teams = sorted({rep.team for rep in ring})
        return self.teams[teams[0]] if len(teams) == 1 else None


_MISSING: Any = object()


def _plain(value: Any) -> bool:
    return value is None or value.__class__ is str


class _RuleIndex:
    """One rule's members (sorted by id), match dimensions, and its pools per kind of lead."""

    def __init__(self, rule: RoutingRule, index: _PolicyIndex) -> None:
        self.rule = rule
        self.matches = rule.when.matches
        self.strategy = rule.strategy
        self.dimensions = rule.match_dimensions
        self.members = sorted(
            (
                rep
                for rep in index.policy.reps
                if (rule.pool.team is None or rep.team == rule.pool.team)
                and (not rule.pool.reps or rep.id in rule.pool.reps)
            ),
            key=lambda rep: rep.id,
        )
        self.pools: dict[Any, _RulePool] = {}
        # A rule that matches on nothing and has no tiers has one pool for every lead.
        self.fixed = rule.strategy not in ("owner", "value_tier") and not self.dimensions

    def pool_for(self, lead: RoutingLead, index: _PolicyIndex) -> _RulePool:
        if self.fixed:
            pool = self.pools.get(_FIXED)
            if pool is None:
                pool = self.pools[_FIXED] = self._pool(_FIXED, index)
            return pool
        facts = lead.facts
        strategy = self.strategy
        if strategy == "owner":
            key: Any = _owner_of(facts, index)
        else:
            grade = facts.get("grade") if strategy == "value_tier" else None
            if self.dimensions == _TERRITORY_ONLY:
                found = index.territory_labels(facts)
                labels: tuple[Any, ...] = () if found is None else (("territory", found),)
            else:
                labels = tuple(
                    (dimension, found)
                    for dimension in self.dimensions
                    if (found := _lead_labels(dimension, facts, index)) is not None
                )
            key = (grade, labels)
        try:
            pool = self.pools.get(key)
        except TypeError:  # an unhashable fact (a list for a grade): worked out every time
            return self._pool(key, index)
        if pool is None:
            pool = self._pool(key, index)
            if len(self.pools) >= _MEMO_LIMIT:
                self.pools.clear()
            self.pools[key] = pool
        return pool

    def _pool(self, key: Any, index: _PolicyIndex) -> _RulePool:
        rule = self.rule
        if rule.strategy == "owner":
            owner, because = key
            if owner is None:
                return _RulePool(ring=(), why_empty=because)
            return index.pool(rule, [index.reps[owner]], cursor_key=rule.name, owner_because=because, covers=owner)

        grade, found_labels = key
        labels: dict[MatchDimension, tuple[str, ...]] = dict(found_labels)
        tier: tuple[str, ...] | None = None
        key_parts = []
        if rule.strategy == "value_tier":
            tiers: Mapping[Any, tuple[str, ...]] = rule.tiers or {}
            tier = tiers.get(grade)
            if tier is None:
                return _RulePool(ring=(), why_empty=f"no tier for grade {grade!r}")
            key_parts.append(f"grade={grade}")

        ring, dropped = [], []
        for rep in self.members:
            reason = _mismatch(rep, rule, tier, labels)
            if reason is None:
                ring.append(rep)
            else:
                dropped.append(CandidateVerdict(rep=rep.id, kept=False, reason=reason))
        if not ring:
            said = "; ".join(f"{dimension} {'+'.join(found) or 'none'}" for dimension, found in labels.items())
            return _RulePool(ring=(), why_empty="no rep in the pool covers this lead" + (f" ({said})" if said else ""))

        for dimension, found in labels.items():
            named = {value.casefold() for rep in ring for value in _rep_values(rep, dimension)}
            key_parts.append(f"{dimension}={'+'.join(label for label in found if label in named) or WILDCARD}")
        cursor_key = rule.name + (f"[{','.join(key_parts)}]" if key_parts else "")
        covers = " ".join("+".join(found) for found in labels.values() if found)
        return index.pool(rule, ring, dropped=tuple(dropped), cursor_key=cursor_key, covers=covers)


_TERRITORY_ONLY = ("territory",)
_FIXED = (None, ())  # the pool key of a rule without match dimensions or tiers


# Policies are frozen pydantic models holding dicts, so they cannot key a dict themselves:
# the index is found by the policy's id and checked to belong to that very object (an id can
# be reused once its object is gone; the finaliser drops the entry before that can happen).
_indexes: dict[int, _PolicyIndex] = {}


def _index_of(policy: Policy) -> _PolicyIndex:
    index = _indexes.get(id(policy))
    if index is not None and index.policy is policy:
        return index
    index = _PolicyIndex(policy)
    key = id(policy)
    _indexes[key] = index
    weakref.finalize(policy, _indexes.pop, key, None)
    return index


# --- pools -------------------------------------------------------------------------------------

_MISMATCH = {"territory": "wrong territory", "industry": "industry mismatch", "language": "language mismatch"}


def _mismatch(
    rep: Rep, rule: RoutingRule, tier: tuple[str, ...] | None, labels: Mapping[MatchDimension, tuple[str, ...]]
) -> str | None:
    """Why ``rep`` does not cover the lead under ``rule``, or None when they do."""
    if rule.pool.seniority and rep.seniority not in rule.pool.seniority:
        return f"seniority {rep.seniority} not in [{', '.join(rule.pool.seniority)}]"
    if tier is not None and rep.seniority not in tier:
        return f"seniority {rep.seniority} not in [{', '.join(tier)}] (value tier)"
    for dimension, found in labels.items():
        values = _rep_values(rep, dimension)
        if WILDCARD not in values and not any(value.casefold() in found for value in values):
            covers = ", ".join(values) or "nothing"
            return f"{_MISMATCH[dimension]} (covers {covers}; lead {'+'.join(found) or 'none'})"
    return None


def _rep_values(rep: Rep, dimension: MatchDimension) -> tuple[str, ...]:
    return {"territory": rep.territories, "industry": rep.industries, "language": rep.languages}[dimension]


def _lead_labels(dimension: MatchDimension, facts: Mapping[str, Any], index: _PolicyIndex) -> tuple[str, ...] | None:
    """The lead's values for a match dimension, case-folded; None when the lead does not say.

    Territory: with a ``territories`` map, the names of the territories containing the lead
    (possibly none: a lead from elsewhere); without one, its country, region and city.
    Language: ``zh-CN`` also counts as ``zh``."""
    if dimension == "territory":
        return index.territory_labels(facts)
    value = _folded(facts.get(dimension))
    if not value:
        return None
    if dimension == "language":
        return tuple(dict.fromkeys((value, value.replace("_", "-").split("-")[0])))
    return (value,)


def _folded(value: Any) -> str:
    return str(value).strip().casefold() if value is not None else ""


def _owner_of(facts: Mapping[str, Any], index: _PolicyIndex) -> tuple[str | None, str]:
    """The rep who owns this person or their company, and why; (None, why not) otherwise."""
    known = facts.get("known_owner")
    gone = ""
    if known:
        if isinstance(known, str) and known in index.reps:
            return known, "known owner of this person"
        gone = f"known owner {known!r} is not in the policy; "
    match = _account_of(facts, index) if index.has_accounts else None
    if match is None:
        return None, gone + _NO_OWNER
    return match.owner, f"owner of the {match.describe()}"


_NO_OWNER = "no known owner and no named account"


def _account_of(facts: Mapping[str, Any], index: _PolicyIndex) -> AccountMatch | None:
    """The lead's named account (by email domain, website, then company name), remembered per
    (domain, website, company): companies recur."""
    from_email = domain_of(facts.get("email_domain")) or domain_of(facts.get("email"))
    website, company = facts.get("website"), facts.get("company")
    key = (from_email, website, company)
    try:
        found = index.accounts.get(key, _MISSING)
    except TypeError:  # an unhashable website or company
        return index.policy.account_index.match(from_email, website, company)
    if found is _MISSING:
        found = index.policy.account_index.match(from_email, website, company)
        if len(index.accounts) >= _MEMO_LIMIT:
            index.accounts.clear()
        index.accounts[key] = found
    return found  # type: ignore[no-any-return]


def _with_account(lead: RoutingLead, index: _PolicyIndex) -> RoutingLead:
    """The lead with its named account as facts rules may test: ``account`` (its name),
    ``account_owner`` and ``account_match`` (what found it: ``email domain bigfactory.cn``).
    Facts the caller already set are kept."""
    if "account" in lead.facts:
        return lead
    match = _account_of(lead.facts, index)
    found = ({"account": match.account, "account_owner": match.owner, "account_match": f"{match.by} {match.evidence}"}
             if match else {"account": None, "account_owner": None, "account_match": None})
    return RoutingLead(lead.lead_id, {**lead.facts, **found})
