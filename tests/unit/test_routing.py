"""Routing decisions: which rule, which rep, why, and what happens when nobody can take a lead."""

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from leadrelay.services.router.routing import (
    RepLoad,
    RosterState,
    RoutingDecision,
    RoutingLead,
    decide_route,
)
from leadrelay.services.router.strategies import weighted_cycle
from leadrelay.shared.policy import Policy, policy_from_dict

SHANGHAI = ZoneInfo("Asia/Shanghai")
ALWAYS = {"days": ["mon-sun"], "start": "00:00", "end": "24:00"}
OFFICE = {"days": ["mon-fri"], "start": "09:00", "end": "18:00"}
WED_10AM = datetime(2026, 6, 3, 10, 0, tzinfo=SHANGHAI)  # an ordinary working morning
SAT_EVENING = datetime(2026, 6, 6, 20, 15, tzinfo=SHANGHAI)
NATIONAL_DAY = datetime(2026, 10, 1, 10, 0, tzinfo=SHANGHAI)  # a public holiday in China
MAKE_UP_SATURDAY = datetime(2026, 10, 10, 10, 0, tzinfo=SHANGHAI)  # 调休: a working Saturday


def rep(rep_id: str, **fields: Any) -> dict[str, Any]:
    """A rep of team sales who is always on shift, unless ``fields`` say otherwise."""
    return {"id": rep_id, "team": "sales", "working_hours": ALWAYS, **fields}


def make_policy(reps: list[dict[str, Any]], rules: list[dict[str, Any]], **sections: Any) -> Policy:
    return policy_from_dict(
        {
            "timezone": "Asia/Shanghai",
            "business_hours": {**OFFICE, "holidays": "CN"},
            "teams": [
                {"name": "sales", "manager": "mgr-sales", "fallback_queue": "sales-pool"},
                {"name": "support", "manager": "mgr-support"},
            ],
            "reps": reps,
            "rules": rules,
            "fallback": {"queue": "unassigned", "notify": ["ops"]},
            **sections,
        }
    )


def route(
    policy: Policy, facts: Mapping[str, Any] | None = None, roster: RosterState | None = None, now: datetime = WED_10AM
) -> RoutingDecision:
    return decide_route(RoutingLead("lead-1", facts or {}), policy, roster or RosterState(), now)


def route_many(policy: Policy, leads: Iterable[Mapping[str, Any]], now: datetime = WED_10AM) -> list[str | None]:
    """Routes leads one after another, applying each decision's cursor updates, as the router does."""
    cursors: dict[str, int] = {}
    owners = []
    for facts in leads:
        decision = route(policy, facts, RosterState(cursors=cursors), now)
        cursors.update(decision.cursor_updates)
        owners.append(decision.owner)
    return owners


def reasons(decision: RoutingDecision) -> dict[str, str]:
    return {verdict.rep: verdict.reason for verdict in decision.candidates}


ROUND_ROBIN = [{"name": "everyone", "strategy": "round_robin"}]


# --- rules -------------------------------------------------------------------------------------


def test_the_first_matching_rule_decides() -> None:
    policy = make_policy(
        [rep("rep-a"), rep("rep-b")],
        [
            {"name": "hot", "when": {"grade": "hot"}, "pool": {"reps": ["rep-b"]}},
            {"name": "rest", "pool": {"reps": ["rep-a"]}},
        ],
    )
    hot = route(policy, {"grade": "hot"})
    assert (hot.owner, hot.rule, hot.matched_because) == ("rep-b", "hot", "grade = hot")
    cold = route(policy, {"grade": "cold"})
    assert (cold.owner, cold.rule, cold.passed_over) == ("rep-a", "rest", ["hot: conditions not met"])


def test_a_lead_no_rule_applies_to_waits_in_the_fallback_queue_and_the_fallback_contact_is_told() -> None:
    decision = route(make_policy([rep("rep-a")], [{"name": "hot-only", "when": {"grade": "hot"}}]), {"grade": "cold"})
    assert (decision.owner, decision.queue, decision.rule, decision.strategy) == (None, "unassigned", None, "fallback")
    assert decision.via == "queue"
    assert decision.notify == ["ops"]


def test_a_rule_with_nobody_covering_the_lead_passes_it_to_the_next_rule() -> None:
    policy = make_policy(
        [rep("rep-cn", territories=["CN"]), rep("rep-any")],
        [
            {"name": "by-territory", "pool": {"match": ["territory"]}},
            {"name": "catch-all", "pool": {"reps": ["rep-any"]}},
        ],
    )
    decision = route(policy, {"country": "BR"})
    assert (decision.owner, decision.rule) == ("rep-any", "catch-all")
    assert decision.passed_over == ["by-territory: no rep in the pool covers this lead (territory br)"]


def test_pool_selectors_combine() -> None:
    policy = make_policy(
        [
            rep("rep-a", seniority="senior"),
            rep("rep-b", seniority="junior"),
            rep("rep-c", team="support", seniority="senior"),
        ],
        [{"name": "seniors-in-sales", "strategy": "least_loaded", "pool": {"team": "sales", "seniority": ["senior"]}}],
    )
    decision = route(policy)
    assert decision.owner == "rep-a"
    assert reasons(decision) == {
        "rep-a": "available (open 0, today 0)",
        "rep-b": "seniority junior not in [senior]",
    }


# --- availability ------------------------------------------------------------------------------


def test_never_picks_a_rep_who_is_off_shift_in_their_own_time_zone() -> None:
    policy = make_policy(
        [
            rep("rep-a", working_hours=OFFICE),
            rep("rep-london", timezone="Europe/London", working_hours=OFFICE),
            rep("rep-z"),
        ],
        ROUND_ROBIN,
    )
    decision = route(policy, now=WED_10AM)  # 03:00 in London
    assert reasons(decision)["rep-london"] == "off hours (Europe/London Wed 03:00)"
    assert decision.owner == "rep-a"
    evening = route(policy, now=SAT_EVENING)
    assert reasons(evening)["rep-a"] == "off hours (Asia/Shanghai Sat 20:15)"
    assert evening.owner == "rep-z"


def test_a_night_shift_runs_past_midnight_from_the_day_it_starts() -> None:
    night = {"days": ["mon-fri"], "start": "22:00", "end": "06:00"}
    policy = make_policy([rep("rep-night", working_hours=night)], ROUND_ROBIN)
    assert route(policy, now=datetime(2026, 6, 6, 2, 0, tzinfo=SHANGHAI)).owner == "rep-night"  # Fri's shift
    sunday = route(policy, now=datetime(2026, 6, 7, 2, 0, tzinfo=SHANGHAI))
    assert reasons(sunday) == {"rep-night": "off hours (Asia/Shanghai Sun 02:00)"}


def test_reps_on_business_hours_keep_public_holidays_and_make_up_workdays() -> None:
    policy = make_policy([rep("rep-office", working_hours=None), rep("rep-own-hours")], ROUND_ROBIN)
    holiday = route(policy, now=NATIONAL_DAY)
    assert reasons(holiday)["rep-office"] == "holiday (Asia/Shanghai 2026-10-01)"
    assert holiday.owner == "rep-own-hours"
    assert route(policy, now=MAKE_UP_SATURDAY).owner == "rep-office"


def test_never_picks_a_rep_who_is_out_of_office() -> None:
    away = [{"start": "2026-06-01", "end": "2026-06-05"}]
    policy = make_policy([rep("rep-a", out_of_office=away), rep("rep-b")], ROUND_ROBIN)
    decision = route(policy)
    assert reasons(decision)["rep-a"] == "out of office until 2026-06-05"
    assert decision.owner == "rep-b"
    assert route(policy, now=datetime(2026, 6, 6, 0, 0, tzinfo=SHANGHAI)).owner == "rep-a"  # back on the 6th


def test_out_of_office_can_be_part_of_a_day() -> None:
    away = [{"start": "2026-06-03T09:00", "end": "2026-06-03T12:00"}]
    policy = make_policy([rep("rep-a", out_of_office=away), rep("rep-b")], ROUND_ROBIN)
    assert reasons(route(policy))["rep-a"] == "out of office until 2026-06-03 12:00"
    assert route(policy, now=WED_10AM.replace(hour=12)).owner == "rep-a"


def test_never_picks_a_paused_rep() -> None:
    decision = route(make_policy([rep("rep-a", paused=True), rep("rep-b")], ROUND_ROBIN))
    assert reasons(decision)["rep-a"] == "paused"
    assert decision.owner == "rep-b"


def test_never_picks_a_rep_at_their_open_cap_or_daily_cap() -> None:
    policy = make_policy(
        [
            rep("rep-a", capacity={"open": 40}),
            rep("rep-b", capacity={"per_day": 15}),
            rep("rep-c", capacity={"open": 40, "per_day": 15}),
        ],
        [{"name": "least", "strategy": "least_loaded"}],
    )
    roster = RosterState(
        loads={
            "rep-a": RepLoad(open=40),
            "rep-b": RepLoad(assigned_today=15),
            "rep-c": RepLoad(open=39, assigned_today=14),
        }
    )
    decision = route(policy, roster=roster)
    assert reasons(decision) == {
        "rep-a": "at capacity (open 40/40)",
        "rep-b": "daily cap reached (15/15)",
        "rep-c": "available (open 39/40, today 14/15)",
    }
    assert decision.owner == "rep-c"


def test_the_time_must_carry_a_zone() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        route(make_policy([rep("rep-a")], ROUND_ROBIN), now=datetime(2026, 6, 3, 10, 0))


# --- when nobody can take it -------------------------------------------------------------------


def test_when_nobody_in_the_pool_is_available_a_backup_takes_the_lead() -> None:
    reps = [
        rep("rep-a", paused=True, backup="rep-s"),
        rep("rep-b", paused=True, backup="rep-t"),
        rep("rep-s", team="support"),
        rep("rep-t", team="support"),
    ]
    policy = make_policy(reps, [{"name": "sales", "pool": {"team": "sales"}}])
    decision = route(policy, roster=RosterState(loads={"rep-s": RepLoad(open=3)}))
    assert (decision.owner, decision.via, decision.rule) == ("rep-t", "backup", "sales")
    assert reasons(decision)["rep-t"] == "backup for rep-b: available (open 0, today 0)"
    assert decision.summary == "nobody in the pool was available; rep-t is backup for rep-b"
    assert decision.cursor_updates == {}


def test_a_backup_must_be_available_too() -> None:
    policy = make_policy(
        [rep("rep-a", paused=True, backup="rep-s"), rep("rep-s", team="support", working_hours=OFFICE)],
        [{"name": "sales", "pool": {"team": "sales"}}],
    )
    decision = route(policy, now=SAT_EVENING)
    assert reasons(decision)["rep-s"] == "backup for rep-a: off hours (Asia/Shanghai Sat 20:15)"
    assert decision.owner is None


def test_when_nobody_nor_a_backup_is_available_the_lead_waits_in_the_team_queue_and_the_manager_is_told() -> None:
    policy = make_policy(
        [rep("rep-a", paused=True), rep("rep-b", paused=True)], [{"name": "sales", "pool": {"team": "sales"}}]
    )
    decision = route(policy)
    assert (decision.owner, decision.queue, decision.via) == (None, "sales-pool", "queue")
    assert decision.notify == ["mgr-sales"]
    assert decision.rule == "sales"  # no falling through to later rules


def test_a_team_without_its_own_queue_uses_the_policy_queue_and_still_tells_its_manager() -> None:
    policy = make_policy(
        [rep("rep-a", team="support", paused=True)], [{"name": "support", "pool": {"team": "support"}}]
    )
    decision = route(policy)
    assert (decision.queue, decision.notify) == ("unassigned", ["mgr-support"])


def test_a_pool_spanning_teams_falls_back_to_the_policy_queue_and_contact() -> None:
    policy = make_policy([rep("rep-a", paused=True), rep("rep-b", team="support", paused=True)], ROUND_ROBIN)
    decision = route(policy)
    assert (decision.queue, decision.notify) == ("unassigned", ["ops"])


# --- strategies --------------------------------------------------------------------------------


def test_round_robin_takes_turns_in_id_order() -> None:
    policy = make_policy([rep("rep-c"), rep("rep-a"), rep("rep-b")], ROUND_ROBIN)
    assert route_many(policy, [{}] * 7) == ["rep-a", "rep-b", "rep-c", "rep-a", "rep-b", "rep-c", "rep-a"]


def test_round_robin_passes_over_an_unavailable_rep_and_carries_on_after_the_one_chosen() -> None:
    policy = make_policy([rep("rep-a"), rep("rep-b", paused=True), rep("rep-c")], ROUND_ROBIN)
    decision = route(policy, roster=RosterState(cursors={"everyone": 4}))
    assert decision.owner == "rep-c"
    assert decision.cursor_updates == {"everyone": 6}
    assert decision.arithmetic["turn"] == "4 mod 3 = 1"
    assert decision.arithmetic["skipped_unavailable"] == ["rep-b"]
    assert decision.summary == "turn 4 mod 3 = 1 is rep-b's; passed over unavailable rep-b"
    assert route(policy, roster=RosterState(cursors={"everyone": 6})).owner == "rep-a"


def test_each_territory_rotates_on_its_own_cursor() -> None:
    policy = make_policy(
        [rep("rep-a", territories=["east"]), rep("rep-b", territories=["east"]), rep("rep-c", territories=["west"])],
        [{"name": "by-territory", "strategy": "territory"}],
        territories={
            "east": {"countries": ["CN"], "regions": ["Shanghai"]},
            "west": {"countries": ["CN"], "regions": ["Sichuan"]},
        },
    )
    east, west = {"country": "CN", "region": "Shanghai"}, {"country": "CN", "region": "Sichuan"}
    assert route_many(policy, [east, west, east, west, east]) == ["rep-a", "rep-c", "rep-b", "rep-c", "rep-a"]
    decision = route(policy, east)
    assert decision.cursor_updates == {"by-territory[territory=east]": 1}
    assert reasons(decision)["rep-c"] == "wrong territory (covers west; lead east)"


def test_without_a_territory_map_territories_match_the_country_region_or_city() -> None:
    policy = make_policy(
        [rep("rep-cn", territories=["CN"]), rep("rep-sh", territories=["Shanghai"]), rep("rep-jp", territories=["JP"])],
        [{"name": "local", "pool": {"match": ["territory"]}}],
    )
    decision = route(policy, {"country": "CN", "region": "Beijing"})
    assert [verdict.rep for verdict in decision.candidates if verdict.kept] == ["rep-cn"]
    shanghai = route(policy, {"country": "cn", "region": "shanghai"})
    assert [verdict.rep for verdict in shanghai.candidates if verdict.kept] == ["rep-cn", "rep-sh"]


def test_industry_and_language_match_with_wildcards_and_primary_language() -> None:
    policy = make_policy(
        [
            rep("rep-retail", industries=["Retail"], languages=["zh"]),
            rep("rep-any", industries=["*"], languages=["en"]),
            rep("rep-energy", industries=["energy"], languages=["zh"]),
        ],
        [{"name": "skills", "strategy": "industry", "pool": {"match": ["language"]}}],
    )
    decision = route(policy, {"industry": "retail", "language": "zh-CN"})
    assert decision.owner == "rep-retail"
    assert reasons(decision) == {
        "rep-any": "language mismatch (covers en; lead zh-cn+zh)",
        "rep-energy": "industry mismatch (covers energy; lead retail)",
        "rep-retail": "available (open 0, today 0)",
    }
    assert decision.cursor_updates == {"skills[industry=retail,language=zh]": 1}


def test_a_fact_the_lead_does_not_give_does_not_filter() -> None:
    policy = make_policy(
        [rep("rep-a", industries=["retail"]), rep("rep-b", industries=["energy"])],
        [{"name": "skills", "strategy": "industry"}],
    )
    assert route_many(policy, [{}, {}]) == ["rep-a", "rep-b"]
    assert route(policy).cursor_updates == {"skills": 1}


def test_weighted_round_robin_gives_turns_in_proportion_to_weight() -> None:
    policy = make_policy(
        [rep("rep-a", weight=3), rep("rep-b"), rep("rep-c", weight=2)],
        [{"name": "weighted", "strategy": "weighted_round_robin"}],
    )
    owners = route_many(policy, [{}] * 12)
    assert Counter(owners) == {"rep-a": 6, "rep-c": 4, "rep-b": 2}
    assert owners[:6] == list(weighted_cycle((("rep-a", 3), ("rep-b", 1), ("rep-c", 2))))


def test_weighted_cycle_spreads_a_heavy_rep_out() -> None:
    assert weighted_cycle((("a", 3), ("b", 1))) == ("a", "a", "b", "a")
    assert weighted_cycle((("a", 1), ("b", 1))) == ("a", "b")


def test_least_loaded_picks_the_fewest_open_leads_then_today_then_longest_waiting_then_id() -> None:
    reps = [rep(rep_id) for rep_id in ("rep-a", "rep-b", "rep-c", "rep-d")]
    policy = make_policy(reps, [{"name": "least", "strategy": "least_loaded"}])
    earlier, later = datetime(2026, 6, 3, 8, 0, tzinfo=SHANGHAI), datetime(2026, 6, 3, 9, 0, tzinfo=SHANGHAI)
    loads = {
        "rep-a": RepLoad(open=5),
        "rep-b": RepLoad(open=2, assigned_today=3),
        "rep-c": RepLoad(open=2, assigned_today=1, last_assigned_at=later),
        "rep-d": RepLoad(open=2, assigned_today=1, last_assigned_at=earlier),
    }
    decision = route(policy, roster=RosterState(loads=loads))
    assert decision.owner == "rep-d"
    assert decision.arithmetic["loads"]["rep-a"] == {"open": 5, "today": 0, "last_assigned_at": None}
    assert decision.cursor_updates == {}
    del loads["rep-d"], loads["rep-c"]
    assert route(policy, roster=RosterState(loads=loads)).owner == "rep-c"  # no load at all


def test_performance_weighting_follows_conversion_but_keeps_new_and_weak_reps_fed() -> None:
    rules = [{"name": "perf", "strategy": "performance_weighted", "floor": "5%"}]
    policy = make_policy([rep("rep-star"), rep("rep-new"), rep("rep-weak")], rules)
    rates = {"rep-star": 0.30, "rep-new": None, "rep-weak": 0.0}
    today = Counter[str]()
    for _ in range(70):
        loads = {rep_id: RepLoad(assigned_today=today[rep_id], conversion_rate=rate) for rep_id, rate in rates.items()}
        today[route(policy, roster=RosterState(loads=loads)).owner] += 1
    # weights: star 0.30; new counts at the median known rate 0.15; weak at the 0.05 floor
    assert today == {"rep-star": 42, "rep-new": 21, "rep-weak": 7}


def test_value_tier_gives_hot_leads_to_senior_reps() -> None:
    policy = make_policy(
        [rep("rep-junior", seniority="junior"), rep("rep-mid", seniority="mid"), rep("rep-senior", seniority="senior")],
        [
            {"name": "tiers", "strategy": "value_tier", "tiers": {"hot": ["senior", "principal"], "warm": ["mid"]}},
            {"name": "rest", "pool": {"reps": ["rep-junior"]}},
        ],
    )
    hot = route(policy, {"grade": "hot"})
    assert hot.owner == "rep-senior"
    assert reasons(hot)["rep-junior"] == "seniority junior not in [senior, principal] (value tier)"
    assert hot.cursor_updates == {"tiers[grade=hot]": 1}
    cold = route(policy, {"grade": "cold"})
    assert (cold.owner, cold.passed_over) == ("rep-junior", ["tiers: no tier for grade 'cold'"])


def test_value_tier_can_pick_by_load_within_the_tier() -> None:
    policy = make_policy(
        [rep("rep-a", seniority="senior"), rep("rep-b", seniority="senior")],
        [{"name": "tiers", "strategy": "value_tier", "tiers": {"hot": ["senior"]}, "then": "least_loaded"}],
    )
    decision = route(policy, {"grade": "hot"}, RosterState(loads={"rep-a": RepLoad(open=9)}))
    assert (decision.owner, decision.arithmetic["picked_by"]) == ("rep-b", "least_loaded")


# --- owner stickiness --------------------------------------------------------------------------

OWNER_RULES = [
    {"name": "returning", "strategy": "owner"},
    {"name": "rest", "pool": {"reps": ["rep-z"]}},
]


def test_a_returning_person_goes_back_to_their_owner() -> None:
    policy = make_policy([rep("rep-a"), rep("rep-z")], OWNER_RULES)
    decision = route(policy, {"known_owner": "rep-a"})
    assert (decision.owner, decision.rule, decision.via) == ("rep-a", "returning", "strategy")
    assert decision.arithmetic == {"picked_by": "owner", "owner": "rep-a", "because": "known owner of this person"}


def test_a_colleague_of_a_named_account_goes_to_its_owner_but_free_mail_is_no_account() -> None:
    policy = make_policy(
        [rep("rep-a"), rep("rep-z")], OWNER_RULES, accounts={"acme.com": "rep-a", "gmail.com": "rep-a"}
    )
    assert route(policy, {"email": "li@ACME.com"}).owner == "rep-a"
    assert route(policy, {"email": "li@gmail.com"}).owner == "rep-z"
    assert route(policy, {"email": "li@gmail.com", "website": "https://www.acme.com/about"}).owner == "rep-a"


def test_an_unavailable_owner_hands_over_to_their_backup_then_to_their_teams_queue() -> None:
    policy = make_policy([rep("rep-a", paused=True, backup="rep-b"), rep("rep-b"), rep("rep-z")], OWNER_RULES)
    decision = route(policy, {"known_owner": "rep-a"})
    assert (decision.owner, decision.via) == ("rep-b", "backup")
    assert decision.summary == "rep-a (known owner of this person) was unavailable; rep-b is backup for rep-a"
    paused_backup = make_policy(
        [rep("rep-a", paused=True, backup="rep-b"), rep("rep-b", paused=True), rep("rep-z")], OWNER_RULES
    )
    queued = route(paused_backup, {"known_owner": "rep-a"})
    assert (queued.owner, queued.queue, queued.notify) == (None, "sales-pool", ["mgr-sales"])


def test_an_owner_who_left_the_policy_lets_the_next_rule_decide() -> None:
    decision = route(make_policy([rep("rep-z")], OWNER_RULES), {"known_owner": "rep-gone"})
    assert decision.owner == "rep-z"
    assert decision.passed_over == [
        "returning: known owner 'rep-gone' is not in the policy; no known owner and no named account"
    ]


# --- credits -----------------------------------------------------------------------------------


def test_a_rep_holding_credit_goes_first_without_moving_the_rotation() -> None:
    policy = make_policy([rep("rep-a"), rep("rep-b"), rep("rep-c")], ROUND_ROBIN)
    decision = route(policy, roster=RosterState(credits={"rep-c": 1, "rep-b": 0}))
    assert (decision.owner, decision.via) == ("rep-c", "credit")
    assert decision.credit_updates == {"rep-c": -1}
    assert decision.cursor_updates == {}
    assert route(policy, roster=RosterState(credits={"rep-c": 0})).owner == "rep-a"


def test_credit_never_overrides_availability() -> None:
    policy = make_policy([rep("rep-a"), rep("rep-b", paused=True)], ROUND_ROBIN)
    decision = route(policy, roster=RosterState(credits={"rep-b": 3}))
    assert (decision.owner, decision.via, decision.credit_updates) == ("rep-a", "strategy", {})


# --- explanation and determinism ---------------------------------------------------------------


def test_the_explanation_says_who_why_and_who_else_was_considered() -> None:
    policy = make_policy(
        [rep("rep-a", working_hours=OFFICE), rep("rep-b", capacity={"open": 40})],
        [{"name": "hot", "when": {"grade": "hot"}}, *ROUND_ROBIN],
    )
    decision = route(policy, {"grade": "warm"}, RosterState(loads={"rep-b": RepLoad(open=3)}), now=SAT_EVENING)
    text = decision.explain()
    assert text.splitlines()[:2] == [
        "Lead lead-1 -> rep-b, by rule 'everyone' (round_robin), at 2026-06-06T20:15:00+08:00.",
        "Why: turn 0 mod 2 = 0 is rep-a's; passed over unavailable rep-a.",
    ]
    assert "  hot: conditions not met" in text
    assert "  dropped  rep-a  off hours (Asia/Shanghai Sat 20:15)" in text
    assert "  kept     rep-b  available (open 3/40, today 0)" in text
    assert '"cursor_key": "everyone"' in text


def test_a_decision_is_plain_data() -> None:
    decision = route(make_policy([rep("rep-a")], ROUND_ROBIN))
    stored = json.loads(decision.model_dump_json())
    assert RoutingDecision.model_validate(stored) == decision


def test_the_order_reps_are_listed_in_does_not_change_the_decision() -> None:
    reps = [rep("rep-b", capacity={"open": 1}), rep("rep-a", paused=True), rep("rep-c"), rep("rep-d")]
    roster = RosterState(loads={"rep-b": RepLoad(open=1)}, cursors={"everyone": 5})
    forwards = route(make_policy(reps, ROUND_ROBIN), roster=roster)
    backwards = route(make_policy(reps[::-1], ROUND_ROBIN), roster=roster)
    assert forwards == backwards
    assert forwards.owner == "rep-c"
