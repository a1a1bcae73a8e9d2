"""Replaying leads through a policy: the roster moves as it does live, and the report adds up."""

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leadrelay.services.router.business_hours import add_business_time
from leadrelay.services.router.clocks import as_target, owner_calendar
from leadrelay.services.router.routing import RepLoad, RosterState, RoutingLead, decide_route
from leadrelay.services.scoring.scoring import score_lead
from leadrelay.shared.lab.simulation import SimLead, _Replay, gini, simulate
from leadrelay.shared.policy import Policy, load_policy, policy_from_dict

SHANGHAI = ZoneInfo("Asia/Shanghai")
ALWAYS = {"days": ["mon-sun"], "start": "00:00", "end": "24:00"}
OFFICE = {"days": ["mon-fri"], "start": "09:00", "end": "18:00"}
MONDAY_9AM = datetime(2026, 6, 1, 9, 0, tzinfo=SHANGHAI)
EXAMPLE = Path(__file__).resolve().parents[2] / "shared" / "example_policy.yaml"
EXAMPLE_POLICY = load_policy(EXAMPLE.read_text())


def make_policy(reps: list[dict[str, Any]], rules: list[dict[str, Any]], **sections: Any) -> Policy:
    return policy_from_dict(
        {
            "timezone": "Asia/Shanghai",
            "business_hours": {**OFFICE, "holidays": "CN"},
            "teams": [{"name": "sales", "manager": "mgr", "fallback_queue": "sales-pool"}],
            "reps": [{"team": "sales", "working_hours": ALWAYS, **rep} for rep in reps],
            "rules": rules,
            **sections,
        }
    )


def leads(count: int, start: datetime = MONDAY_9AM, every: timedelta = timedelta(minutes=10),
          **facts: Any) -> list[SimLead]:
    return [
        SimLead(facts={"email": f"person{i}@acme-example.cn", "country": "CN", **facts}, source="web",
                received_at=start + i * every)
        for i in range(count)
    ]


def received(policy_run: Any) -> dict[str, int]:
    return {stats.rep: stats.received for stats in policy_run.reps}


def test_every_lead_is_either_assigned_or_waits_in_a_queue() -> None:
    policy = make_policy([{"id": "rep-a", "capacity": {"per_day": 3}}], [{"name": "all"}])
    report = simulate(policy, leads(10))
    assert report.leads == 10
    assert report.run.assigned + report.run.unassigned_total == 10
    assert report.run.unassigned == {"sales-pool": 7}


def test_round_robin_over_reps_who_are_always_there_is_exactly_fair() -> None:
    policy = make_policy([{"id": "rep-a"}, {"id": "rep-b"}, {"id": "rep-c"}], [{"name": "all"}])
    run = simulate(policy, leads(300)).run
    assert received(run) == {"rep-a": 100, "rep-b": 100, "rep-c": 100}
    assert run.max_min_ratio == 1.0
    assert run.gini == 0.0
    assert {stats.vs_fair for stats in run.reps} == {1.0}
    assert run.rule_hits == {"all": 300}


def test_daily_caps_start_again_at_midnight_in_the_policy_time_zone() -> None:
    policy = make_policy([{"id": "rep-a", "capacity": {"per_day": 2}}], [{"name": "all"}])
    late_evening = datetime(2026, 6, 1, 23, 0, tzinfo=SHANGHAI)
    run = simulate(policy, leads(4, start=late_evening, every=timedelta(minutes=20)), close_after=None).run
    # 23:00 and 23:20 fill Monday's cap, 23:40 waits, 00:00 Tuesday is a new day.
    assert run.assigned == 3
    assert run.unassigned == {"sales-pool": 1}


def test_closed_leads_free_the_open_cap_after_the_handling_time() -> None:
    policy = make_policy([{"id": "rep-a", "capacity": {"open": 1}}], [{"name": "all"}])
    every_half_hour = leads(6, every=timedelta(minutes=30))
    assert simulate(policy, every_half_hour, close_after=timedelta(hours=1)).run.assigned == 3
    assert simulate(policy, every_half_hour, close_after=None).run.assigned == 1


def test_the_replay_never_breaches_a_cap_or_assigns_off_hours() -> None:
    policy = EXAMPLE_POLICY
    hourly = leads(400, every=timedelta(minutes=7), region="Shanghai", employees=800, title="CEO")
    run = simulate(policy, hourly).run
    assert run.capacity_breaches == 0
    assert run.off_hours_assignments == 0
    assert all(stats.capacity_breaches == 0 and stats.off_hours == 0 for stats in run.reps)


def test_a_returning_person_goes_back_to_the_owner_of_their_earlier_lead() -> None:
    policy = make_policy(
        [{"id": "rep-a"}, {"id": "rep-b"}],
        [{"name": "returning", "when": {"known_owner": True}, "strategy": "owner"}, {"name": "all"}],
    )
    same_person = [SimLead(facts={"email": "wei@acme-example.cn"}, received_at=MONDAY_9AM + timedelta(minutes=m))
                   for m in range(0, 50, 10)]
    run = simulate(policy, same_person).run
    assert run.rule_hits == {"returning": 4, "all": 1}
    assert sorted(received(run).values()) == [0, 5]


def test_the_replay_makes_the_decisions_the_live_router_would() -> None:
    policy = EXAMPLE_POLICY
    stream = [
        SimLead(facts={"email": f"p{i}@gmail.com", "country": country, "region": region, "employees": size},
                received_at=MONDAY_9AM + timedelta(minutes=13 * i))
        for i, (country, region, size) in enumerate(
            [("CN", "Shanghai", 20), ("CN", "Beijing", 900), ("JP", None, 40), ("BR", None, 5), ("KR", None, 70)] * 40
        )
    ]
    report = simulate(policy, stream, close_after=None)

    loads: dict[str, RepLoad] = {}
    cursors: dict[str, int] = {}
    owners: Counter[str] = Counter()
    today = None
    for lead in stream:
        assert lead.received_at is not None
        day = lead.received_at.astimezone(SHANGHAI).date()
        if day != today:
            loads = {rep: RepLoad(open=load.open, last_assigned_at=load.last_assigned_at) for rep, load in loads.items()}
            today = day
        facts = {**lead.facts, "known_owner": None, "returning": False}
        scored = score_lead(facts, policy.scoring)
        facts.update(score=scored.score, grade=scored.grade)
        decision = decide_route(RoutingLead("x", facts), policy, RosterState(loads, cursors, {}), lead.received_at)
        cursors.update(decision.cursor_updates)
        if decision.owner:
            load = loads.get(decision.owner, RepLoad())
            loads[decision.owner] = RepLoad(open=load.open + 1, assigned_today=load.assigned_today + 1,
                                            last_assigned_at=lead.received_at)
            owners[decision.owner] += 1
    assert {rep: count for rep, count in received(report.run).items() if count} == dict(owners)


def test_fair_share_splits_each_lead_among_the_reps_who_covered_it() -> None:
    policy = make_policy(
        [{"id": "rep-cn", "territories": ["CN"]}, {"id": "rep-any", "territories": ["*"]}],
        [{"name": "by-territory", "pool": {"match": ["territory"]}}],
    )
    mixed = leads(4, country="CN") + leads(4, start=MONDAY_9AM + timedelta(hours=2), country="US")
    shares = {stats.rep: stats.fair_share for stats in simulate(policy, mixed).run.reps}
    # Each CN lead is half rep-cn's and half rep-any's; each US lead is all rep-any's.
    assert shares == {"rep-any": pytest.approx(0.75), "rep-cn": pytest.approx(0.25)}


def test_against_counts_the_leads_that_change_owner_and_where_they_go() -> None:
    today = make_policy([{"id": "rep-a"}, {"id": "rep-b"}], [{"name": "all", "pool": {"reps": ["rep-a"]}}])
    proposed = make_policy([{"id": "rep-a"}, {"id": "rep-b"}], [{"name": "all", "pool": {"reps": ["rep-b"]}}])
    report = simulate(proposed, leads(7), against=today)
    assert report.changes is not None
    assert report.changes.changed == 7
    assert report.changes.moves == [("rep-a", "rep-b", 7)]
    assert report.baseline is not None and received(report.baseline)["rep-a"] == 7
    assert simulate(today, leads(7), against=today).changes.changed == 0  # type: ignore[union-attr]


def test_a_hot_lead_given_just_before_the_owner_goes_home_is_at_sla_risk() -> None:
    policy = make_policy(
        [{"id": "rep-a", "working_hours": OFFICE}],
        [{"name": "all"}],
        scoring={"rules": [{"name": "everyone-hot", "points": 100}]},
        sla={"clock": "wall", "first_touch": {"hot": "15m"}},
    )
    morning = datetime(2026, 6, 1, 10, 0, tzinfo=SHANGHAI)
    evening = datetime(2026, 6, 1, 17, 50, tzinfo=SHANGHAI)
    assert simulate(policy, leads(1, start=morning)).run.sla_at_risk == 0
    assert simulate(policy, leads(1, start=evening)).run.sla_at_risk == 1


def test_on_the_business_clock_a_rep_whose_hours_end_early_puts_leads_at_risk() -> None:
    policy = make_policy(
        [{"id": "rep-early", "working_hours": {"days": ["mon-fri"], "start": "09:00", "end": "17:00"}}],
        [{"name": "all"}],
        scoring={"rules": [{"name": "everyone-hot", "points": 100}]},
        sla={"clock": "business_hours", "first_touch": {"hot": "30m"}},
    )
    at_1650 = datetime(2026, 6, 1, 16, 50, tzinfo=SHANGHAI)  # due 17:20, open time, but rep-early left
    at_1000 = datetime(2026, 6, 1, 10, 0, tzinfo=SHANGHAI)
    assert simulate(policy, leads(1, start=at_1650)).run.sla_at_risk == 1
    assert simulate(policy, leads(1, start=at_1000)).run.sla_at_risk == 0


@settings(max_examples=150, deadline=None)
@given(
    minutes=st.integers(min_value=0, max_value=60 * 24 * 21),
    target_minutes=st.sampled_from([15, 90, 240, 60 * 9, 60 * 24, 60 * 24 * 2, 60 * 24 * 7]),
    later=st.integers(min_value=0, max_value=600),
)
def test_the_first_touch_deadline_is_the_one_the_live_sla_clock_computes(
    minutes: int, target_minutes: int, later: int
) -> None:
    policy = EXAMPLE_POLICY
    replay = _Replay(policy, None)
    rep = policy.rep("rep-morgan")
    calendar = owner_calendar(policy, rep)
    target = as_target(timedelta(minutes=target_minutes), calendar)
    first = (datetime(2026, 9, 28, tzinfo=UTC) + timedelta(minutes=minutes))
    second = first + timedelta(minutes=later)  # a later lead reuses what the first worked out
    for now in (first, second):
        assert replay._first_touch_due(rep, now, calendar, target) == add_business_time(calendar, now, target)


def test_leads_without_arrival_times_arrive_one_spacing_apart_from_the_start() -> None:
    policy = make_policy([{"id": "rep-a"}], [{"name": "all"}])
    undated = [SimLead(facts={"email": f"p{i}@x-example.com"}) for i in range(3)]
    report = simulate(policy, undated, start=MONDAY_9AM, spacing=timedelta(minutes=5))
    assert report.first_at == MONDAY_9AM
    assert report.last_at == MONDAY_9AM + timedelta(minutes=10)
    with pytest.raises(ValueError, match="start"):
        simulate(policy, undated)


def test_the_gini_coefficient_is_zero_for_equal_shares_and_grows_with_concentration() -> None:
    assert gini([5, 5, 5, 5]) == 0.0
    assert gini([]) == 0.0
    assert gini([0, 0, 0, 12]) == pytest.approx(0.75)
    assert gini([1, 2, 3, 4]) < gini([0, 1, 2, 7])


def test_the_report_is_ready_for_json() -> None:
    today = make_policy([{"id": "rep-a"}], [{"name": "all"}])
    data = simulate(today, leads(3), against=today).to_dict()
    assert json.loads(json.dumps(data))["run"]["rule_hits"] == {"all": 3}
    assert data["changes"] == {"changed": 0, "moves": []}
