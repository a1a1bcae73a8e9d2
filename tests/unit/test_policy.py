"""The policy document: what it accepts, how it reads values, and how it reports problems."""

import json
import textwrap
from datetime import date, datetime, timedelta
from importlib import resources

import pydantic
import pytest
import yaml

from leadrelay.shared.policy import (
    Policy,
    PolicyError,
    TimeOfDay,
    format_duration,
    load_policy,
    parse_duration,
    parse_percentage,
    policy_from_dict,
)

# The sketch from DESIGN.md, verbatim: the shape we promised to keep working.
SKETCH = r"""
version: 1
timezone: Asia/Shanghai
business_hours: {days: [mon, tue, wed, thu, fri], start: "09:00", end: "18:00", holidays: CN}
scoring:
  rules:
    - {when: {source: referral}, points: 30}
    - {when: {title: {matches: "(?i)\\b(cto|ceo|vp|director)\\b|总监|总经理"}}, points: 20}
    - {when: {employees: {gte: 500}}, points: 15}
    - {when: {email: {free_domain: true}}, points: -10}
  grades: {hot: 60, warm: 30}          # score >= 60 hot, >= 30 warm, else cold
sla:
  handoff: 24h                          # marketing -> sales: someone must accept within this
  first_touch: {hot: 15m, warm: 4h, cold: 1d}
  clock: business_hours                 # or wall
  ladder: {remind: 50%, escalate: 100%, reassign: 150%}
  recycle_unworked_after: 7d            # back to the team pool (公海) if nobody works it
reps:
  - id: rep-a
    team: enterprise
    territories: [CN-east]
    industries: [manufacturing]
    languages: [zh, en]
    seniority: senior
    capacity: {open: 40, per_day: 15}
    timezone: Asia/Shanghai
    backup: rep-b
    chat: {platform: feishu, webhook: "https://…", secret: "env:FEISHU_SECRET"}
teams:
  - {name: enterprise, manager: mgr-a}
rules:                                   # first match wins
  - {name: returning-person, when: {known_owner: true}, strategy: owner}
  - {name: hot-enterprise, when: {grade: hot, employees: {gte: 500}}, strategy: least_loaded,
     pool: {team: enterprise, seniority: [senior]}}
  - {name: by-territory, when: {}, strategy: round_robin, pool: {match: [territory]}}
fallback: {queue: unassigned, notify: mgr-a}
"""
# The sketch's rep-a names a backup the sketch leaves out; a real policy must define it.
SKETCH = SKETCH.replace("teams:\n", "  - {id: rep-b, team: enterprise}\nteams:\n")

MINIMAL = {
    "reps": [{"id": "rep-a", "team": "sales"}, {"id": "rep-b", "team": "sales"}],
    "teams": [{"name": "sales", "manager": "mgr"}],
    "rules": [{"name": "everyone"}],
}


def problems_of(document: dict | str) -> list[str]:
    with pytest.raises(PolicyError) as caught:
        load_policy(document) if isinstance(document, str) else policy_from_dict(document)
    assert str(caught.value) == "\n".join(caught.value.problems)
    return caught.value.problems


def with_(**sections: object) -> dict:
    return {**MINIMAL, **sections}


def test_loads_the_sketch_from_the_design() -> None:
    policy = load_policy(SKETCH)
    assert policy.sla.first_touch.hot == timedelta(minutes=15)
    assert policy.sla.ladder.reassign == 1.5
    assert policy.business_hours.holidays == "CN"
    assert policy.rep("rep-a").capacity.per_day == 15
    assert policy.fallback.notify == ("mgr-a",)
    assert [rule.name for rule in policy.scoring.rules] == [f"scoring.rules[{i}]" for i in range(4)]


def test_the_bundled_example_loads_and_covers_every_hour_with_a_24x7_team() -> None:
    text = resources.files("leadrelay.shared").joinpath("example_policy.yaml").read_text(encoding="utf-8")
    policy = load_policy(text)
    all_week = "mon,tue,wed,thu,fri,sat,sun 00:00-24:00"
    round_the_clock = [rep for rep in policy.reps if rep.working_hours and rep.working_hours.describe() == all_week]
    assert {rep.team for rep in round_the_clock} == {"smb"}
    assert all(policy.rep(rep.backup) in round_the_clock for rep in policy.reps if rep.team == "enterprise")
    assert [rule.name for rule in policy.rules][-1] == "catch-all"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("15m", timedelta(minutes=15)),
        ("4h", timedelta(hours=4)),
        ("1d", timedelta(days=1)),
        ("2w", timedelta(weeks=2)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1h 30m", timedelta(hours=1, minutes=30)),
        ("1d2h3m4s", timedelta(days=1, hours=2, minutes=3, seconds=4)),
    ],
)
def test_durations_read_as_timedeltas(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["15", "15x", "h", "1h1h", "-5m", "0m", "", "1.5h"])
def test_nonsense_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_durations_write_back_in_the_same_notation() -> None:
    assert format_duration(timedelta(hours=1, minutes=30)) == "1h30m"
    assert format_duration(timedelta(days=7)) == "7d"


@pytest.mark.parametrize(("value", "fraction"), [("50%", 0.5), ("150%", 1.5), ("12.5%", 0.125), (0.5, 0.5)])
def test_percentages_read_as_fractions(value: object, fraction: float) -> None:
    assert parse_percentage(value) == fraction


def test_a_bad_duration_is_reported_at_its_path() -> None:
    assert problems_of(with_(sla={"first_touch": {"hot": "15x"}})) == [
        "sla.first_touch.hot: bad duration '15x' (use e.g. 90s, 15m, 4h, 1d, 1h30m)"
    ]


def test_the_sla_ladder_must_climb() -> None:
    assert problems_of(with_(sla={"ladder": {"remind": "80%", "escalate": "60%"}})) == [
        "sla.ladder.escalate: must come after remind (80%)"
    ]


def test_a_ladder_step_can_be_switched_off() -> None:
    policy = policy_from_dict(with_(sla={"ladder": {"reassign": None}}))
    assert policy.sla.ladder.reassign is None


def test_clock_times_accept_24_00_as_the_end_of_the_day() -> None:
    policy = policy_from_dict(with_(business_hours={"days": ["mon-sun"], "start": "00:00", "end": "24:00"}))
    assert policy.business_hours.end == TimeOfDay(24 * 60)
    assert str(policy.business_hours.end) == "24:00"


def test_bad_clock_times_are_reported() -> None:
    working = {"start": "9am", "end": "24:30"}
    assert problems_of(with_(business_hours=working)) == [
        'business_hours.start: bad time \'9am\' (use "HH:MM" in quotes, e.g. "09:00")',
        "business_hours.end: bad time '24:30' (from 00:00 to 24:00)",
    ]


def test_days_accept_ranges_full_names_and_wrap_the_weekend() -> None:
    hours = policy_from_dict(with_(business_hours={"days": ["Monday", "wed-fri"]})).business_hours
    assert hours.days == ("mon", "wed", "thu", "fri")
    rep = {"id": "night", "team": "sales", "working_hours": {"days": ["fri-mon"], "start": "22:00", "end": "06:00"}}
    policy = policy_from_dict(with_(reps=[rep]))
    assert policy.rep("night").working_hours.days == ("mon", "fri", "sat", "sun")


def test_business_hours_end_on_the_day_they_start_but_a_reps_shift_may_run_past_midnight() -> None:
    assert problems_of(with_(business_hours={"start": "22:00", "end": "06:00"})) == [
        'business_hours.end: business hours cannot run past midnight; end by "24:00"'
    ]
    rep = {"id": "night", "team": "sales", "working_hours": {"start": "22:00", "end": "06:00"}}
    assert policy_from_dict(with_(reps=[rep])).rep("night").working_hours.end == TimeOfDay(6 * 60)


def test_yaml_surprises_are_switched_off() -> None:
    # YAML 1.1 reads NO as false (Norway vanishes) and 18:00 as the number 1080.
    policy = load_policy(
        textwrap.dedent(
            """
            business_hours: {start: 09:00, end: 18:00}
            reps: [{id: rep-a, team: sales, territories: [NO, SE]}]
            teams: [{name: sales, manager: mgr}]
            rules: [{name: nordics, when: {country: [NO, SE]}}]
            """
        )
    )
    assert policy.business_hours.end == TimeOfDay(18 * 60)
    assert policy.rep("rep-a").territories == ("NO", "SE")
    assert policy.rules[0].when.matches({"country": "NO"})


def test_a_key_given_twice_is_an_error() -> None:
    assert problems_of("rules: []\nrules: []\n") == ["line 2, column 1: duplicate key 'rules' (first at line 1)"]


def test_yaml_syntax_errors_say_where() -> None:
    [problem] = problems_of("reps: [\n")
    assert problem.startswith("line 2, column 1: ")


def test_a_document_that_is_not_a_mapping_is_refused() -> None:
    assert problems_of("- just\n- a list\n") == [
        "the policy must be a mapping of sections (version, reps, teams, rules, ...)"
    ]


def test_every_shape_problem_is_listed_with_its_path() -> None:
    document = with_(
        reps=[{"id": "rep-a", "team": "sales", "colour": "red", "seniority": "boss", "capacity": {"open": -1}}],
        scoring={"rules": [{"when": {"title": {"matches": "("}}, "points": 3}]},
        rules=[{"name": "tiers", "strategy": "value_tier"}],
    )
    del document["teams"]
    assert problems_of(document) == [
        "scoring.rules[0].when.title.matches: bad regex '(': missing ), unterminated subpattern at position 0",
        "reps[0].seniority: input should be 'junior', 'mid', 'senior' or 'principal'",
        "reps[0].capacity.open: input should be greater than or equal to 0",
        "reps[0].colour: unknown field",
        "teams: required",
        "rules[0].tiers: the value_tier strategy needs tiers, e.g. {hot: [senior]}",
    ]


def test_unknown_names_are_reported_with_their_path_and_a_suggestion() -> None:
    document = with_(
        teams=[{"name": "sales", "manager": "mgr"}, {"name": "enterprise", "manager": "mgr"}],
        rules=[
            {"name": "a"},
            {"name": "b"},
            {"name": "c", "pool": {"team": "enterprize", "reps": ["rep-a", "rep-bee"]}},
        ],
        accounts={"WWW.Acme.com": "nobody"},
    )
    document["reps"] = [
        *MINIMAL["reps"],
        {"id": "rep-c", "team": "smb", "backup": "rep-c"},
        {"id": "rep-d", "team": "sales", "backup": "rep-bb"},
    ]
    assert problems_of(document) == [
        "reps[2].team: unknown team 'smb'",
        "reps[2].backup: a rep cannot be their own backup",
        "reps[3].backup: unknown rep 'rep-bb' (did you mean 'rep-b'?)",
        "rules[2].pool.team: unknown team 'enterprize' (did you mean 'enterprise'?)",
        "rules[2].pool.reps[1]: unknown rep 'rep-bee' (did you mean 'rep-b'?)",
        "accounts.acme.com: unknown rep 'nobody'",
    ]


def test_duplicate_ids_and_names_are_reported() -> None:
    document = with_(
        reps=[{"id": "rep-a", "team": "sales"}, {"id": "rep-a", "team": "sales"}],
        rules=[{"name": "x"}, {"name": "x"}],
        scoring={"rules": [{"name": "s", "points": 1}, {"name": "s", "points": 2}]},
    )
    assert problems_of(document) == [  # a shape problem does not hide the references' problems
        "scoring.rules[1].name: duplicate rule name 's' (also scoring.rules[0])",
        "reps[1].id: duplicate rep id 'rep-a' (also reps[0])",
        "rules[1].name: duplicate rule name 'x' (also rules[0])",
    ]
    del document["scoring"]
    assert problems_of(document) == [
        "reps[1].id: duplicate rep id 'rep-a' (also reps[0])",
        "rules[1].name: duplicate rule name 'x' (also rules[0])",
    ]


def test_managers_are_checked_once_the_policy_lists_them() -> None:
    assert policy_from_dict(with_(fallback={"notify": "anyone"})).fallback.notify == ("anyone",)
    document = with_(managers=[{"id": "mgr-a"}], fallback={"notify": ["mgr-a", "mgr-b"]})
    assert problems_of(document) == [
        "teams[0].manager: unknown manager 'mgr' (did you mean 'mgr-a'?)",
        "fallback.notify[1]: unknown manager 'mgr-b' (did you mean 'mgr-a'?)",
    ]


def test_rep_territories_must_be_defined_once_the_policy_defines_territories() -> None:
    document = with_(
        territories={"cn-east": {"countries": ["CN"], "regions": ["Shanghai"]}},
        reps=[{"id": "rep-a", "team": "sales", "territories": ["cn-east", "cn-esat", "*"]}],
    )
    assert problems_of(document) == ["reps[0].territories[1]: unknown territory 'cn-esat' (did you mean 'cn-east'?)"]


def test_a_territory_must_say_where_it_is() -> None:
    assert problems_of(with_(territories={"nowhere": {}})) == [
        "territories.nowhere: a territory needs countries, regions or cities"
    ]


@pytest.mark.parametrize(
    ("rule", "problem"),
    [
        ({"strategy": "round_robin", "tiers": {"hot": ["senior"]}}, "tiers: only the value_tier strategy takes tiers"),
        ({"strategy": "least_loaded", "then": "round_robin"}, "then: only territory, industry and value_tier take 'then'"),
        ({"strategy": "round_robin", "floor": "5%"}, "floor: only performance_weighted takes a floor"),
        ({"strategy": "owner", "pool": {"team": "sales"}}, "pool: the owner strategy picks the lead's owner; it takes no pool"),
        ({"strategy": "random"}, "strategy: input should be 'round_robin', 'weighted_round_robin', 'least_loaded', "
                                 "'performance_weighted', 'territory', 'industry', 'value_tier' or 'owner'"),
    ],
)  # fmt: skip
def test_strategy_options_must_fit_the_strategy(rule: dict, problem: str) -> None:
    assert problems_of(with_(rules=[{"name": "r", **rule}])) == [f"rules[0].{problem}"]


def test_unknown_time_zones_and_holiday_calendars_are_refused() -> None:
    assert problems_of(with_(timezone="Asia/Shangai", business_hours={"holidays": "XX"})) == [
        "timezone: unknown time zone 'Asia/Shangai' (use an IANA name such as Asia/Shanghai)",
        "business_hours.holidays: unknown holiday calendar 'XX' (use a country code such as CN)",
    ]


def test_out_of_office_must_end_after_it_starts() -> None:
    rep = {"id": "rep-a", "team": "sales", "out_of_office": [{"start": date(2026, 12, 2), "end": date(2026, 12, 1)}]}
    assert problems_of(with_(reps=[rep])) == ["reps[0].out_of_office[0].end: ends before it starts"]


def test_out_of_office_takes_dates_or_date_times() -> None:
    absences = [{"start": "2026-12-01", "end": "2026-12-03"}, {"start": "2026-12-10T09:00", "end": "2026-12-10T12:00"}]
    rep = policy_from_dict(with_(reps=[{"id": "rep-a", "team": "sales", "out_of_office": absences}])).rep("rep-a")
    assert rep.out_of_office[0].end == date(2026, 12, 3)
    assert rep.out_of_office[1].start == datetime(2026, 12, 10, 9, 0)


def test_only_the_supported_format_version_loads() -> None:
    assert problems_of(with_(version=2)) == ["version: unsupported policy format version 2 (this reads 1)"]


def test_the_policy_is_frozen() -> None:
    policy = policy_from_dict(MINIMAL)
    with pytest.raises(pydantic.ValidationError):
        policy.timezone = "Europe/London"  # type: ignore[misc]


def test_a_dumped_policy_loads_back_equal() -> None:
    policy = load_policy(SKETCH)
    dumped = yaml.safe_dump(policy.model_dump(mode="json"), allow_unicode=True, sort_keys=False)
    assert load_policy(dumped) == policy
    assert policy_from_dict(policy.model_dump()) == policy


def test_lookups_answer_by_id() -> None:
    policy = load_policy(SKETCH)
    assert policy.rep("rep-a").team == "enterprise"
    assert policy.rep_ids == ("rep-a", "rep-b")
    assert policy.team("enterprise").manager == "mgr-a"
    assert policy.manager_of("rep-a") == "mgr-a"
    assert policy.chat_for("rep-a").platform == "feishu"
    assert policy.chat_for("mgr-a") is None
    assert policy.timezone_of(policy.rep("rep-b")).key == "Asia/Shanghai"
    assert policy.hours_of(policy.rep("rep-b")) == policy.business_hours
    with pytest.raises(KeyError, match="unknown rep 'rep-z'"):
        policy.rep("rep-z")


def test_account_domains_are_normalised() -> None:
    policy = policy_from_dict(with_(accounts={"https://WWW.Acme.com/": "rep-a", "@globex.cn": "rep-b"}))
    assert policy.account_domains == {"acme.com": "rep-a", "globex.cn": "rep-b"}
    assert policy.model_dump(mode="json")["accounts"] == {"acme.com": "rep-a", "globex.cn": "rep-b"}
    assert policy.account_owner("ACME.com") == "rep-a"
    assert policy.account_owner("initech.com") is None


def test_exports_a_json_schema_for_editors() -> None:
    schema = Policy.json_schema()
    json.dumps(schema)
    assert schema["title"] == "Leadrelay routing policy"
    assert {"reps", "teams", "rules", "sla", "scoring", "fallback"} <= set(schema["properties"])
    assert set(schema["required"]) == {"reps", "teams", "rules"}
