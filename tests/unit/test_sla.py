"""SLA clocks: ladders on business hours and the wall clock, what stops them, speed-to-lead."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leadrelay.services.router.business_hours import BusinessCalendar
from leadrelay.services.router.sla import (
    ClockStep,
    SlaTargets,
    plan_clock,
    plan_clocks,
    time_to_first_touch,
    which_clocks_stop,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")
CN_OFFICE = BusinessCalendar.from_spec(
    "Asia/Shanghai", ["mon", "tue", "wed", "thu", "fri"], "09:00", "18:00", holidays="CN"
)
TARGETS = SlaTargets(
    handoff=timedelta(hours=24),
    first_touch={"hot": timedelta(minutes=15), "warm": timedelta(hours=4), "cold": timedelta(hours=9)},
    recycle_after=7 * CN_OFFICE.day_length,
    clock="business_hours",
)
WALL = replace(TARGETS, clock="wall")


def sh(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=SHANGHAI)


def due(steps: list[ClockStep]) -> dict[str, datetime]:
    return {step.timer_id: step.due_at for step in steps}


def test_a_hot_lead_assigned_just_before_closing_on_friday_escalates_on_monday_morning() -> None:
    steps = due(plan_clocks(sh(2026, 3, 13, 17, 50), "hot", TARGETS, CN_OFFICE))

    assert steps["first_touch:remind"] == sh(2026, 3, 13, 17, 57, 30)
    assert steps["first_touch:escalate"] == sh(2026, 3, 16, 9, 5)
    assert steps["first_touch:reassign"] == sh(2026, 3, 16, 9, 12, 30)


def test_a_warm_lead_assigned_at_1600_breaches_at_1100_the_next_working_day() -> None:
    steps = due(plan_clocks(sh(2026, 3, 17, 16), "warm", TARGETS, CN_OFFICE))

    assert steps["first_touch:remind"] == sh(2026, 3, 17, 18)  # 2h of open time: closing time
    assert steps["first_touch:escalate"] == sh(2026, 3, 18, 11)
    assert steps["first_touch:reassign"] == sh(2026, 3, 18, 13)


def test_a_lead_assigned_after_hours_starts_its_clocks_at_the_next_opening() -> None:
    steps = due(plan_clocks(sh(2026, 3, 17, 20), "hot", TARGETS, CN_OFFICE))

    assert steps["first_touch:remind"] == sh(2026, 3, 18, 9, 7, 30)
    assert steps["first_touch:escalate"] == sh(2026, 3, 18, 9, 15)


def test_business_hour_clocks_skip_national_day() -> None:
    steps = due(plan_clocks(sh(2026, 9, 30, 17), "cold", TARGETS, CN_OFFICE))

    assert steps["first_touch:escalate"] == sh(2026, 10, 8, 17)


def test_a_24h_handoff_on_the_wall_clock_is_exactly_24_hours_even_across_dst() -> None:
    assigned_at = datetime(2026, 3, 7, 12, tzinfo=NEW_YORK)  # the day before spring-forward

    steps = due(plan_clocks(assigned_at, "hot", WALL, calendar=None))

    assert steps["handoff:remind"] - assigned_at == timedelta(hours=12)
    assert steps["handoff:escalate"] - assigned_at == timedelta(hours=24)
    assert steps["handoff:escalate"] == datetime(2026, 3, 8, 17, tzinfo=UTC)  # 13:00 EDT
    assert steps["handoff:reassign"] - assigned_at == timedelta(hours=36)


def test_the_wall_clock_ignores_the_calendar() -> None:
    friday_evening = sh(2026, 3, 13, 19, 30)

    steps = due(plan_clocks(friday_evening, "hot", WALL, CN_OFFICE))

    assert steps["first_touch:escalate"] == friday_evening + timedelta(minutes=15)


def test_the_reps_own_time_zone_sets_their_business_hours() -> None:
    berlin_rep = replace(CN_OFFICE, tz="Europe/Berlin", holiday_country="DE")
    assigned_at = datetime(2026, 3, 16, 10, tzinfo=UTC)  # 18:00 in Shanghai, 11:00 in Berlin

    in_berlin = due(plan_clocks(assigned_at, "hot", TARGETS, berlin_rep))
    in_shanghai = due(plan_clocks(assigned_at, "hot", TARGETS, CN_OFFICE))

    assert in_berlin["first_touch:escalate"] == datetime(2026, 3, 16, 10, 15, tzinfo=UTC)
    assert in_shanghai["first_touch:escalate"] == sh(2026, 3, 17, 9, 15)


def test_recycling_returns_the_lead_to_the_pool_after_seven_business_days() -> None:
    recycle = [s for s in plan_clocks(sh(2026, 3, 16, 10), "warm", TARGETS, CN_OFFICE) if s.clock == "recycle"]

    assert recycle == [ClockStep("recycle", "return_to_pool", sh(2026, 3, 25, 10))]


def test_a_disabled_ladder_step_is_not_planned() -> None:
    escalate_only = replace(TARGETS, ladder={"remind": None, "escalate": 1.0, "reassign": None})

    steps = plan_clocks(sh(2026, 3, 16, 10), "hot", escalate_only, CN_OFFICE)

    assert [s.timer_id for s in steps] == ["first_touch:escalate", "handoff:escalate", "recycle:return_to_pool"]


def test_a_grade_without_a_first_touch_target_gets_no_first_touch_clock() -> None:
    steps = plan_clocks(sh(2026, 3, 16, 10), "unknown", TARGETS, CN_OFFICE)

    assert {s.clock for s in steps} == {"handoff", "recycle"}


def test_clocks_without_a_target_are_not_planned() -> None:
    first_touch_only = replace(TARGETS, handoff=None, recycle_after=None)

    steps = plan_clocks(sh(2026, 3, 16, 10), "hot", first_touch_only, CN_OFFICE)

    assert {s.clock for s in steps} == {"first_touch"}


def test_steps_come_in_due_order_with_stable_unique_timer_ids() -> None:
    steps = plan_clocks(sh(2026, 3, 16, 10), "warm", TARGETS, CN_OFFICE)

    assert [s.due_at for s in steps] == sorted(s.due_at for s in steps)
    assert sorted(s.timer_id for s in steps) == [
        "first_touch:escalate",
        "first_touch:reassign",
        "first_touch:remind",
        "handoff:escalate",
        "handoff:reassign",
        "handoff:remind",
        "recycle:return_to_pool",
    ]
    assert all(s.due_at.tzinfo is UTC for s in steps)


def test_a_clock_plan_keeps_its_target_and_start() -> None:
    plan = plan_clock("handoff", sh(2026, 3, 16, 10), timedelta(hours=24), {"escalate": 1.0}, None)

    assert plan.target == timedelta(hours=24)
    assert plan.started_at == datetime(2026, 3, 16, 2, tzinfo=UTC)
    assert plan.steps == (ClockStep("handoff", "escalate", datetime(2026, 3, 17, 2, tzinfo=UTC)),)


def test_a_business_hours_clock_without_a_calendar_is_refused() -> None:
    with pytest.raises(ValueError, match="needs a BusinessCalendar"):
        plan_clocks(sh(2026, 3, 16, 10), "hot", TARGETS, calendar=None)


def test_a_naive_assignment_instant_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        plan_clocks(datetime(2026, 3, 16, 10), "hot", WALL, calendar=None)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"ladder": {"nudge": 0.5}}, "unknown ladder steps"),
        ({"ladder": {"remind": -0.5}}, "non-negative"),
        ({"handoff": timedelta(0)}, "must be positive"),
        ({"first_touch": {"hot": timedelta(minutes=-5)}}, "must be positive"),
        ({"clock": "sundial"}, "business_hours or wall"),
    ],
)
def test_invalid_sla_targets_are_refused(change: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        replace(TARGETS, **change)  # type: ignore[arg-type]


def test_sla_targets_do_not_follow_later_changes_to_the_callers_dicts() -> None:
    first_touch = {"hot": timedelta(minutes=15)}
    targets = SlaTargets(handoff=None, first_touch=first_touch)

    first_touch["hot"] = timedelta(days=30)

    assert targets.first_touch["hot"] == timedelta(minutes=15)


@pytest.mark.parametrize(
    ("action", "stopped"),
    [
        ("accepted", {"handoff"}),
        ("contacted", {"handoff", "first_touch"}),
        ("converted", {"handoff", "first_touch", "recycle"}),
        ("lost", {"handoff", "first_touch", "recycle"}),
        ("reassign", {"handoff", "first_touch", "recycle"}),
    ],
)
def test_rep_actions_stop_the_clocks_they_satisfy(action: str, stopped: set[str]) -> None:
    assert which_clocks_stop(action) == stopped


def test_an_unknown_action_is_refused_rather_than_leaving_clocks_running() -> None:
    with pytest.raises(ValueError, match="unknown action"):
        which_clocks_stop("snoozed")


def test_which_clocks_stop_hands_out_a_fresh_set_each_time() -> None:
    which_clocks_stop("accepted").add("recycle")

    assert which_clocks_stop("accepted") == {"handoff"}


def test_time_to_first_touch_counts_business_time_with_a_calendar() -> None:
    assert time_to_first_touch(sh(2026, 3, 13, 17), sh(2026, 3, 16, 9, 30), CN_OFFICE) == timedelta(minutes=90)


def test_time_to_first_touch_counts_elapsed_time_without_a_calendar_even_across_dst() -> None:
    assigned_at = datetime(2026, 3, 7, 12, tzinfo=NEW_YORK)
    contacted_at = datetime(2026, 3, 8, 12, tzinfo=NEW_YORK)

    assert time_to_first_touch(assigned_at, contacted_at, None) == timedelta(hours=23)


def test_a_contact_logged_before_assignment_counts_as_instant() -> None:
    assigned_at = sh(2026, 3, 16, 10)
    contacted_at = sh(2026, 3, 16, 9, 55)

    assert time_to_first_touch(assigned_at, contacted_at, None) == timedelta(0)
    assert time_to_first_touch(assigned_at, contacted_at, CN_OFFICE) == timedelta(0)


@settings(database=None, deadline=None, max_examples=50)
@given(
    st.datetimes(
        min_value=datetime(2025, 1, 1),
        max_value=datetime(2027, 12, 31),
        timezones=st.sampled_from([UTC, SHANGHAI, NEW_YORK]),
        allow_imaginary=False,
    ),
    st.sampled_from(["hot", "warm", "cold"]),
    st.sampled_from([TARGETS, WALL]),
)
def test_each_clock_climbs_its_ladder_in_order(assigned_at: datetime, grade: str, targets: SlaTargets) -> None:
    steps = plan_clocks(assigned_at, grade, targets, CN_OFFICE)

    for clock in ("handoff", "first_touch"):
        ladder = {s.step: s.due_at for s in steps if s.clock == clock}
        assert assigned_at <= ladder["remind"] <= ladder["escalate"] <= ladder["reassign"]
