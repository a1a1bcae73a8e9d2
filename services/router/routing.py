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
5. When no rule applies, the lead is parked in the policy's fallback queue and
   ``fallback.notify`` is told.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from services.router import strategies
from services.router.availability import IDLE, RepLoad, describe_load, unavailability
from services.router.strategies import Pick
from shared.conditions import domain_of
from shared.identity import is_free_email_domain
from shared.policy import WILDCARD, MatchDimension, Policy, Rep, RoutingRule, Team, normalise_domain

__all__ = [
    "CandidateVerdict",
    "RepLoad",
    "RosterState",
    "RoutingDecision",
    "RoutingLead",
    "decide_route",
]


@dataclass(frozen=True)
class RoutingLead:
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

    def load_of(self, rep_id: str) -> RepLoad:
        return self.loads.get(rep_id, IDLE)


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
    via: Literal["strategy", "credit", "backup", "queue"]
    summary: str
    matched_because: str = ""
    passed_over: list[str] = []
    candidates: list[CandidateVerdict] = []
    arithmetic: dict[str, Any] = {}
    cursor_updates: dict[str, int] = {}
    credit_updates: dict[str, int] = {}
    notify: list[str] = []
    decided_at: datetime

    @property
    def assigned(self) -> bool:
        return self.owner is not None

    def explain(self) -> str:
        """The decision in plain text, for a manager asking "why did this lead go there?"."""
        target = self.owner if self.owner else f"queue {self.queue!r}"
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


def decide_route(lead: RoutingLead, policy: Policy, roster: RosterState, now: datetime) -> RoutingDecision:
    """Decides where ``lead`` goes at ``now`` (timezone-aware). Returns the decision; raises
    ValueError for a naive ``now``. Never assigns to an unavailable rep."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    passed_over: list[str] = []
    for rule in policy.rules:
        if not rule.when.matches(lead.facts):
            passed_over.append(f"{rule.name}: conditions not met")
            continue
        pool = _pool_for(rule, lead, policy)
        if not pool.ring:
            passed_over.append(f"{rule.name}: {pool.why_empty}")
            continue
        context = {
            "lead_id": lead.lead_id,
            "rule": rule.name,
            "strategy": rule.strategy,
            "matched_because": rule.when.explain(lead.facts),
            "passed_over": passed_over,
            "decided_at": now,
        }
        return _decide_within(rule, pool, policy, roster, now, context)
    return RoutingDecision(
        lead_id=lead.lead_id,
        owner=None,
        queue=policy.fallback.queue,
        rule=None,
        strategy="fallback",
        via="queue",
        summary="no rule applied to this lead",
        passed_over=passed_over,
        notify=list(policy.fallback.notify),
        decided_at=now,
    )


@dataclass(frozen=True)
class _RulePool:
    """A rule's pool sized to one lead: who covers it (the ring) and who was dropped."""

    ring: tuple[Rep, ...]  # reps covering the lead, by id; the rotation ring
    dropped: tuple[CandidateVerdict, ...] = ()
    cursor_key: str = ""
    why_empty: str = ""
    owner_because: str = ""


def _decide_within(
    rule: RoutingRule, pool: _RulePool, policy: Policy, roster: RosterState, now: datetime, context: dict[str, Any]
) -> RoutingDecision:
    verdicts = sorted([*pool.dropped, *(_judge(rep, policy, roster, now) for rep in pool.ring)], key=_by_rep)
    available = [verdict.rep for verdict in verdicts if verdict.kept]

    if not available:
        return _backup_or_queue(rule, pool, policy, roster, now, verdicts, context)

    credit = strategies.by_credit(available, roster.credits) if rule.strategy != "owner" else None
    if credit is not None:
        assert credit.rep is not None
        return RoutingDecision(
            **context,
            owner=credit.rep,
            queue=None,
            via="credit",
            summary=credit.summary,
            candidates=verdicts,
            arithmetic={"picked_by": "credit", **credit.arithmetic},
            credit_updates={credit.rep: -1},
        )

    pick = _pick(rule, pool, available, roster)
    arithmetic = {"picked_by": rule.picker, **pick.arithmetic}
    cursor_updates = {}
    if pick.next_cursor is not None:
        arithmetic["cursor_key"] = pool.cursor_key
        cursor_updates[pool.cursor_key] = pick.next_cursor
    return RoutingDecision(
        **context,
        owner=pick.rep,
        queue=None,
        via="strategy",
        summary=pick.summary,
        candidates=verdicts,
        arithmetic=arithmetic,
        cursor_updates=cursor_updates,
    )


def _judge(rep: Rep, policy: Policy, roster: RosterState, now: datetime, role: str = "") -> CandidateVerdict:
    """Whether a rep who covers the lead can take it now; ``role`` prefixes the reason."""
    load = roster.load_of(rep.id)
    why_not = unavailability(rep, policy, load, now)
    reason = why_not or f"available ({describe_load(rep, load)})"
    return CandidateVerdict(rep=rep.id, kept=why_not is None, reason=f"{role}{reason}")


def _by_rep(verdict: CandidateVerdict) -> str:
    return verdict.rep


def _pick(rule: RoutingRule, pool: _RulePool, available: list[str], roster: RosterState) -> Pick:
    ring = [rep.id for rep in pool.ring]
    cursor = roster.cursors.get(pool.cursor_key, 0)
    match rule.picker:
        case "owner":
            owner = ring[0]
            return Pick(owner, f"{owner} is the {pool.owner_because}", {"owner": owner, "because": pool.owner_because})
        case "round_robin":
            return strategies.round_robin(ring, available, cursor)
        case "weighted_round_robin":
            weights = {rep.id: rep.weight for rep in pool.ring}
            return strategies.weighted_round_robin(ring, weights, available, cursor)
        case "least_loaded":
            return strategies.least_loaded(available, roster.loads)
        case "performance_weighted":
            return strategies.performance_weighted(available, roster.loads, rule.performance_floor)


def _backup_or_queue(
    rule: RoutingRule,
    pool: _RulePool,
    policy: Policy,
    roster: RosterState,
    now: datetime,
    verdicts: list[CandidateVerdict],
    context: dict[str, Any],
) -> RoutingDecision:
    # A backup stands in for a person, not for the rule's criteria: a backup dropped from the
    # pool for territory may still cover. Backups of backups are not chased.
    in_ring = {rep.id for rep in pool.ring}
    backing: dict[str, str] = {}  # backup -> the rep they stand in for (the first, by id)
    for rep in pool.ring:
        if rep.backup and rep.backup not in in_ring and policy.has_rep(rep.backup):
            backing.setdefault(rep.backup, rep.id)
    backups = [
        _judge(policy.rep(backup), policy, roster, now, role=f"backup for {covered}: ")
        for backup, covered in backing.items()
    ]
    verdicts = verdicts + backups
    available = [verdict.rep for verdict in backups if verdict.kept]
    if available:
        pick = strategies.least_loaded(sorted(available), roster.loads)
        assert pick.rep is not None
        return RoutingDecision(
            **context,
            owner=pick.rep,
            queue=None,
            via="backup",
            summary=f"{_nobody(rule, pool)}; {pick.rep} is backup for {backing[pick.rep]}",
            candidates=verdicts,
            arithmetic={"picked_by": "least_loaded backup", "backups": backing, **pick.arithmetic},
        )
    team = _team_of(rule, pool, policy)
    queue = (team.fallback_queue if team else None) or policy.fallback.queue
    return RoutingDecision(
        **context,
        owner=None,
        queue=queue,
        via="queue",
        summary=f"{_nobody(rule, pool)}{', nor any backup' if backing else ''}; parked in {queue}",
        candidates=verdicts,
        arithmetic={"backups": backing, "team": team.name if team else None},
        notify=[team.manager] if team else list(policy.fallback.notify),
    )


def _nobody(rule: RoutingRule, pool: _RulePool) -> str:
    if rule.strategy == "owner":
        return f"{pool.ring[0].id} ({pool.owner_because}) was unavailable"
    return "nobody in the pool was available"


def _team_of(rule: RoutingRule, pool: _RulePool, policy: Policy) -> Team | None:
    """The team whose queue takes a lead nobody could: the pool's, else the one team of its reps."""
    if rule.pool.team is not None:
        return policy.team(rule.pool.team)
    teams = sorted({rep.team for rep in pool.ring})
    return policy.team(teams[0]) if len(teams) == 1 else None


# --- pools -------------------------------------------------------------------------------------

_MISMATCH = {"territory": "wrong territory", "industry": "industry mismatch", "language": "language mismatch"}


def _pool_for(rule: RoutingRule, lead: RoutingLead, policy: Policy) -> _RulePool:
    if rule.strategy == "owner":
        owner, because = _owner_of(lead, policy)
        if owner is None:
            return _RulePool(ring=(), why_empty=because)
        return _RulePool(ring=(policy.rep(owner),), cursor_key=rule.name, owner_because=because)

    tier: tuple[str, ...] | None = None
    key_parts = []
    if rule.strategy == "value_tier":
        grade = lead.facts.get("grade")
        tiers: Mapping[Any, tuple[str, ...]] = rule.tiers or {}
        tier = tiers.get(grade)
        if tier is None:
            return _RulePool(ring=(), why_empty=f"no tier for grade {grade!r}")
        key_parts.append(f"grade={grade}")
    # A dimension the lead says nothing about does not filter: an unknown industry must not
    # strand a lead in a queue.
    labels = {
        dimension: found
        for dimension in rule.match_dimensions
        if (found := _lead_labels(dimension, lead.facts, policy)) is not None
    }

    ring, dropped = [], []
    for rep in sorted(_members(rule, policy), key=lambda rep: rep.id):
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
    return _RulePool(ring=tuple(ring), dropped=tuple(dropped), cursor_key=cursor_key)


def _members(rule: RoutingRule, policy: Policy) -> list[Rep]:
    return [
        rep
        for rep in policy.reps
        if (rule.pool.team is None or rep.team == rule.pool.team) and (not rule.pool.reps or rep.id in rule.pool.reps)
    ]


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


def _lead_labels(dimension: MatchDimension, facts: Mapping[str, Any], policy: Policy) -> tuple[str, ...] | None:
    """The lead's values for a match dimension, case-folded; None when the lead does not say.

    Territory: with a ``territories`` map, the names of the territories containing the lead
    (possibly none: a lead from elsewhere); without one, its country, region and city.
    Language: ``zh-CN`` also counts as ``zh``."""
    if dimension == "territory":
        location = [_folded(facts.get(name)) for name in ("country", "region", "city")]
        if not any(location):
            return None
        if policy.territories:
            return tuple(name.casefold() for name, area in sorted(policy.territories.items()) if area.contains(facts))
        return tuple(dict.fromkeys(value for value in location if value))
    value = _folded(facts.get(dimension))
    if not value:
        return None
    if dimension == "language":
        return tuple(dict.fromkeys((value, value.replace("_", "-").split("-")[0])))
    return (value,)


def _folded(value: Any) -> str:
    return str(value).strip().casefold() if value is not None else ""


def _owner_of(lead: RoutingLead, policy: Policy) -> tuple[str | None, str]:
    """The rep who owns this person or their company, and why; (None, why not) otherwise."""
    known = lead.facts.get("known_owner")
    gone = ""
    if known:
        if policy.has_rep(known):
            return known, "known owner of this person"
        gone = f"known owner {known!r} is not in the policy; "
    for domain in _company_domains(lead.facts):
        owner = policy.account_owner(domain)
        if owner is not None:
            return owner, f"owner of the account {domain}"
    return None, gone + "no known owner and no named account"


def _company_domains(facts: Mapping[str, Any]) -> list[str]:
    """The lead's company domains, from the email (unless it is free mail) and the website."""
    domains = []
    from_email = domain_of(facts.get("email_domain")) or domain_of(facts.get("email"))
    if from_email and not is_free_email_domain(from_email):
        domains.append(normalise_domain(from_email))
    if isinstance(facts.get("website"), str) and facts["website"].strip():
        domains.append(normalise_domain(facts["website"]))
    return list(dict.fromkeys(domains))
