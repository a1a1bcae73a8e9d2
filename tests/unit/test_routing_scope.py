"""``routing_scope``: the fairness rows a decision may touch, named before any state is read.

The router locks only these rows (per pool, not per company), so the scope must hold all a
decision reads and writes. Checked over generated policies with several teams, rules of every
strategy, backups across teams and named accounts: deciding over a roster cut down to the
scope gives the very decision the whole roster gives, and what it writes lies inside it."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from leadrelay.services.router.routing import (
    RepLoad,
    RosterState,
    RoutingLead,
    RoutingScope,
    decide_route,
    routing_scope,
)
from leadrelay.shared.policy import Policy, policy_from_dict

ALWAYS = {"days": ["mon-sun"], "start": "00:00", "end": "24:00"}
OFFICE = {"days": ["mon-fri"], "start": "09:00", "end": "18:00"}
TEAMS = ("east", "west", "smb")
STRATEGIES = ("round_robin", "weighted_round_robin", "least_loaded", "performance_weighted", "territory",
              "industry", "value_tier", "owner")
SENIORITY = ("junior", "mid", "senior", "principal")

scoped = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])


class EveryCursor(Mapping[str, int]):
    """A position for whatever cursor key is asked (keys depend on the lead), fixed by a seed."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def __getitem__(self, key: str) -> int:
        return int(hashlib.sha256(f"{self.seed}:{key}".encode()).hexdigest()[:6], 16) % 97

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 1


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    ids = [f"rep-{n:02d}" for n in range(draw(st.integers(2, 9)))]
    reps = [{
        "id": rep_id,
        "team": draw(st.sampled_from(TEAMS)),
        "working_hours": draw(st.sampled_from([ALWAYS, OFFICE])),
        "paused": draw(st.booleans()),
        "capacity": {"open": draw(st.one_of(st.none(), st.integers(0, 4))),
                     "per_day": draw(st.one_of(st.none(), st.integers(0, 4)))},
        "weight": draw(st.integers(1, 3)),
        "seniority": draw(st.sampled_from(SENIORITY)),
        "territories": draw(st.lists(st.sampled_from(["shanghai", "sichuan", "*"]), max_size=2, unique=True)),
        "industries": draw(st.lists(st.sampled_from(["retail", "energy", "*"]), max_size=2, unique=True)),
        "backup": draw(st.one_of(st.none(), st.sampled_from(ids))),
    } for rep_id in ids]
    for rep in reps:
        if rep["backup"] == rep["id"]:
            rep["backup"] = None
    rules = []
    for number in range(draw(st.integers(1, 4))):
        strategy = draw(st.sampled_from(STRATEGIES))
        rule: dict[str, Any] = {"name": f"rule-{number}", "strategy": strategy}
        if draw(st.booleans()):
            rule["when"] = {"grade": draw(st.sampled_from(["hot", "warm", "cold"]))}
        pool: dict[str, Any] = {}
        if draw(st.booleans()):
            pool["team"] = draw(st.sampled_from(TEAMS))
        if draw(st.booleans()):
            pool["reps"] = draw(st.lists(st.sampled_from(ids), min_size=1, max_size=4, unique=True))
        if strategy in ("round_robin", "least_loaded") and draw(st.booleans()):
            pool["match"] = draw(st.lists(st.sampled_from(["territory", "industry"]), min_size=1, unique=True))
        if pool:
            rule["pool"] = pool
        if strategy == "value_tier":
            rule["tiers"] = {"hot": ["senior", "principal"], "warm": ["mid", "senior"]}
        rules.append(rule)
    document = {
        "timezone": "Asia/Shanghai",
        "teams": [{"name": team, "manager": f"mgr-{team}", "fallback_queue": f"{team}-queue"} for team in TEAMS],
        "reps": reps,
        "rules": rules,
        "accounts": {"bigfactory.cn": draw(st.sampled_from(ids))},
        "fallback": {"queue": "unassigned", "notify": ["ops"]},
    }
    try:
        return policy_from_dict(document)
    except (ValidationError, ValueError):
        assume(False)
        raise


@st.composite
def leads(draw: st.DrawFn, policy: Policy) -> RoutingLead:
    facts = {
        "grade": draw(st.sampled_from(["hot", "warm", "cold"])),
        "region": draw(st.sampled_from(["Shanghai", "Sichuan", None])),
        "industry": draw(st.sampled_from(["retail", "energy", None])),
        "email_domain": draw(st.sampled_from(["bigfactory.cn", "gmail.com", None])),
        "known_owner": draw(st.one_of(st.none(), st.just("rep-gone"), st.sampled_from([r.id for r in policy.reps]))),
    }
    return RoutingLead("lead", {key: value for key, value in facts.items() if value is not None})


loads = st.builds(RepLoad, open=st.integers(0, 5), assigned_today=st.integers(0, 5),
                  conversion_rate=st.one_of(st.none(), st.floats(0, 1)))
moments = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC))


def cut_to(roster: RosterState, scope: RoutingScope) -> RosterState:
    """The roster as the router reads it: the scope's rows and nothing else."""
    return RosterState(loads={rep: load for rep, load in roster.loads.items() if rep in scope.reps},
                       cursors={key: roster.cursors[key] for key in scope.cursors},
                       credits={rep: credit for rep, credit in roster.credits.items() if rep in scope.reps})


@scoped
@given(data=st.data(), now=moments, seed=st.integers(0, 10_000))
def test_a_decision_over_its_scope_alone_is_the_decision_over_the_whole_roster(
        data: st.DataObject, now: datetime, seed: int) -> None:
    policy = data.draw(policies())
    lead = data.draw(leads(policy))
    ids = [rep.id for rep in policy.reps]
    whole = RosterState(loads=data.draw(st.fixed_dictionaries({rep: loads for rep in ids})),
                        cursors=EveryCursor(seed),
                        credits=data.draw(st.dictionaries(st.sampled_from(ids), st.integers(-1, 2))))
    scope = routing_scope(lead, policy)

    decision = decide_route(lead, policy, whole, now)

    assert decide_route(lead, policy, cut_to(whole, scope), now) == decision
    assert list(scope.reps) == sorted(set(scope.reps)) and list(scope.cursors) == sorted(set(scope.cursors))
    if decision.owner is not None:
        assert decision.owner in scope.reps
    assert set(decision.credit_updates) <= set(scope.reps)
    assert set(decision.cursor_updates) <= set(scope.cursors)
    if decision.rule is None:  # no rule applied: nothing of the roster was read
        assert scope == RoutingScope()


def test_leads_of_disjoint_teams_have_disjoint_scopes_and_a_shared_rep_makes_them_overlap() -> None:
    policy = policy_from_dict({
        "teams": [{"name": "shanghai", "manager": "m-sh"}, {"name": "sao-paulo", "manager": "m-sp"}],
        "reps": [{"id": "sh-1", "team": "shanghai", "working_hours": ALWAYS},
                 {"id": "sh-2", "team": "shanghai", "working_hours": ALWAYS, "backup": "sp-1"},
                 {"id": "sp-1", "team": "sao-paulo", "working_hours": ALWAYS},
                 {"id": "sp-2", "team": "sao-paulo", "working_hours": ALWAYS}],
        "rules": [{"name": "cn", "when": {"country": "CN"}, "pool": {"team": "shanghai"}},
                  {"name": "br", "when": {"country": "BR"}, "strategy": "least_loaded",
                   "pool": {"team": "sao-paulo"}}],
    })
    china = routing_scope(RoutingLead("a", {"country": "CN"}), policy)
    brazil = routing_scope(RoutingLead("b", {"country": "BR"}), policy)
    assert china == RoutingScope(("sh-1", "sh-2", "sp-1"), ("cn",))  # sp-1 stands in for sh-2
    assert brazil == RoutingScope(("sp-1", "sp-2"), ())  # least loaded moves no cursor
    assert routing_scope(RoutingLead("c", {"country": "JP"}), policy) == RoutingScope()
    assert china.union(brazil).with_reps("sh-1", None) == RoutingScope(("sh-1", "sh-2", "sp-1", "sp-2"), ("cn",))


@pytest.mark.parametrize("strategy", ["round_robin", "weighted_round_robin"])
def test_only_rotating_pickers_lock_a_cursor(strategy: str) -> None:
    policy = policy_from_dict({"teams": [{"name": "t", "manager": "m"}],
                               "reps": [{"id": "r", "team": "t", "working_hours": ALWAYS}],
                               "rules": [{"name": "x", "strategy": strategy}]})
    assert routing_scope(RoutingLead("a", {}), policy) == RoutingScope(("r",), ("x",))
