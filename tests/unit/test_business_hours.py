"""Open-time arithmetic: weekends, CN and US holidays, DST, and its algebraic laws."""

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leadrelay.services.router.business_hours import (
    BusinessCalendar,
    add_business_time,
    business_time_between,
    is_open,
    next_open,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri"]
EVERY_DAY = [*WEEKDAYS, "sat", "sun"]

CN_OFFICE = BusinessCalendar.from_spec("Asia/Shanghai", WEEKDAYS, "09:00", "18:00", holidays="CN")
NY_EVERY_DAY = BusinessCalendar.from_spec("America/New_York", EVERY_DAY, "09:00", "17:00")
NY_ROUND_THE_CLOCK = BusinessCalendar.from_spec("America/New_York", EVERY_DAY, "00:00", "24:00")
ALWAYS_OPEN = BusinessCalendar.from_spec("UTC", EVERY_DAY, "00:00", "24:00")


def sh(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=SHANGHAI)


def ny(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, fold: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=NEW_YORK, fold=fold)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# --- Shanghai office hours and China's public holidays ---------------------------------


def test_a_lead_on_friday_evening_in_shanghai_counts_from_monday_0900() -> None:
    friday_evening = sh(2026, 3, 13, 19, 30)

    assert next_open(CN_OFFICE, friday_evening) == sh(2026, 3, 16, 9, 0)
    assert add_business_time(CN_OFFICE, friday_evening, timedelta(minutes=15)) == sh(2026, 3, 16, 9, 15)


def test_a_4h_target_started_at_1600_ends_at_1100_the_next_working_day() -> None:
    four_hours = timedelta(hours=4)

    assert add_business_time(CN_OFFICE, sh(2026, 3, 17, 16), four_hours) == sh(2026, 3, 18, 11)
    assert add_business_time(CN_OFFICE, sh(2026, 3, 13, 16), four_hours) == sh(2026, 3, 16, 11)


def test_cn_national_day_week_is_skipped() -> None:
    eve_of_national_day = sh(2026, 9, 30, 17)

    assert not is_open(CN_OFFICE, sh(2026, 10, 2, 10))
    assert add_business_time(CN_OFFICE, eve_of_national_day, timedelta(hours=4)) == sh(2026, 10, 8, 12)


def test_cn_make_up_weekend_working_days_are_open() -> None:
    # 2026's National Day break is paid back on Sunday 20 Sep and Saturday 10 Oct.
    assert is_open(CN_OFFICE, sh(2026, 9, 20, 10))
    assert is_open(CN_OFFICE, sh(2026, 10, 10, 10))
    assert add_business_time(CN_OFFICE, sh(2026, 10, 9, 17), timedelta(hours=2)) == sh(2026, 10, 10, 10)


def test_a_calendar_without_a_holiday_country_works_on_public_holidays() -> None:
    no_holidays = replace(CN_OFFICE, holiday_country=None)

    assert is_open(no_holidays, sh(2026, 10, 2, 10))
    assert not is_open(no_holidays, sh(2026, 10, 10, 10))


def test_extra_holidays_and_workdays_override_weekdays_and_public_holidays() -> None:
    cal = BusinessCalendar.from_spec(
        "Asia/Shanghai",
        WEEKDAYS,
        holidays="cn",
        extra_holidays=["2026-03-18"],
        extra_workdays=[date(2026, 3, 21), date(2026, 10, 2)],
    )

    assert not is_open(cal, sh(2026, 3, 18, 10))
    assert is_open(cal, sh(2026, 3, 21, 10))
    assert is_open(cal, sh(2026, 10, 2, 10))


# --- Opening hours at their edges -----------------------------------------------------


def test_opening_hours_include_the_opening_instant_and_exclude_the_closing_one() -> None:
    assert is_open(CN_OFFICE, sh(2026, 3, 16, 9))
    assert not is_open(CN_OFFICE, sh(2026, 3, 16, 18))
    assert not is_open(CN_OFFICE, sh(2026, 3, 16, 8, 59, 59))


def test_a_target_running_out_at_closing_time_is_due_at_closing_not_at_the_next_opening() -> None:
    assert add_business_time(CN_OFFICE, sh(2026, 3, 16, 16), timedelta(hours=2)) == sh(2026, 3, 16, 18)


def test_an_after_hours_arrival_on_a_weekday_counts_from_the_next_morning() -> None:
    assert add_business_time(CN_OFFICE, sh(2026, 3, 16, 22), timedelta(hours=1)) == sh(2026, 3, 17, 10)
    assert add_business_time(CN_OFFICE, sh(2026, 3, 16, 6), timedelta(hours=1)) == sh(2026, 3, 16, 10)


def test_business_time_between_counts_only_open_hours() -> None:
    assert business_time_between(CN_OFFICE, sh(2026, 3, 13, 17), sh(2026, 3, 16, 10)) == timedelta(hours=2)
    assert business_time_between(CN_OFFICE, sh(2026, 3, 16, 10), sh(2026, 3, 13, 17)) == timedelta(0)


def test_results_are_utc_whatever_zone_the_input_is_in() -> None:
    due = add_business_time(CN_OFFICE, sh(2026, 3, 16, 10), timedelta(hours=1))

    assert due.tzinfo is UTC
    assert due == utc(2026, 3, 16, 3)
    assert next_open(CN_OFFICE, sh(2026, 3, 16, 10)).tzinfo is UTC


def test_weeks_of_business_time_are_counted_in_whole_days() -> None:
    start = sh(2026, 1, 5, 9)
    a_year_of_office_hours = timedelta(hours=9 * 250)

    due = add_business_time(CN_OFFICE, start, a_year_of_office_hours)

    assert business_time_between(CN_OFFICE, start, due) == a_year_of_office_hours
    assert due.year == 2027


# --- Daylight saving time (America/New_York) ------------------------------------------


def test_us_spring_forward_day_opens_at_0900_daylight_time() -> None:
    saturday_before = ny(2026, 3, 7, 16)  # 21:00 UTC, on EST (-5)

    assert next_open(NY_EVERY_DAY, ny(2026, 3, 7, 18)) == utc(2026, 3, 8, 13)
    assert add_business_time(NY_EVERY_DAY, saturday_before, timedelta(hours=2)) == utc(2026, 3, 8, 14)


def test_us_fall_back_day_opens_at_0900_standard_time() -> None:
    saturday_before = ny(2026, 10, 31, 16)  # 20:00 UTC, on EDT (-4)

    assert next_open(NY_EVERY_DAY, ny(2026, 10, 31, 18)) == utc(2026, 11, 1, 14)
    assert add_business_time(NY_EVERY_DAY, saturday_before, timedelta(hours=2)) == utc(2026, 11, 1, 15)


def test_a_round_the_clock_day_lasts_23h_at_spring_forward_and_25h_at_fall_back() -> None:
    def length_of(day: date) -> timedelta:
        midnight = datetime.combine(day, time(0), NEW_YORK)
        return business_time_between(NY_ROUND_THE_CLOCK, midnight, midnight + timedelta(days=1, hours=5))

    assert length_of(date(2026, 3, 8)) == timedelta(hours=23 + 5)
    assert length_of(date(2026, 11, 1)) == timedelta(hours=25 + 5)


def test_an_opening_time_inside_the_spring_forward_gap_moves_forward_by_the_gap() -> None:
    cal = replace(NY_EVERY_DAY, start=time(2, 30))

    assert next_open(cal, ny(2026, 3, 8, 0)) == ny(2026, 3, 8, 3, 30)  # 07:30 UTC
    assert next_open(cal, ny(2026, 3, 9, 0)) == ny(2026, 3, 9, 2, 30)


def test_opening_hours_wholly_inside_the_spring_forward_gap_do_not_open_that_day() -> None:
    cal = replace(NY_EVERY_DAY, start=time(2, 30), end=time(3, 0))

    assert next_open(cal, ny(2026, 3, 8, 0)) == ny(2026, 3, 9, 2, 30)


def test_an_opening_time_inside_the_fall_back_fold_means_its_first_occurrence() -> None:
    cal = replace(NY_EVERY_DAY, start=time(1, 30))

    assert next_open(cal, ny(2026, 11, 1, 0)) == utc(2026, 11, 1, 5, 30)  # 01:30 EDT
    assert is_open(cal, ny(2026, 11, 1, 1, 45, fold=1))  # the second 01:45, on EST


def test_a_local_day_the_zone_skipped_is_not_counted_twice() -> None:
    # Samoa crossed the date line: 29 Dec 2011 23:59:59 was followed by 31 Dec 00:00.
    apia = ZoneInfo("Pacific/Apia")
    cal = replace(NY_EVERY_DAY, tz="Pacific/Apia")

    span = business_time_between(cal, datetime(2011, 12, 29, tzinfo=apia), datetime(2012, 1, 1, tzinfo=apia))

    assert span == timedelta(hours=8 + 8)
    assert add_business_time(cal, datetime(2011, 12, 29, 16, tzinfo=apia), timedelta(hours=2)) == datetime(
        2011, 12, 31, 10, tzinfo=apia
    )


# --- Configuration and misuse ---------------------------------------------------------


def test_a_spec_end_of_2400_means_the_end_of_the_day() -> None:
    assert ALWAYS_OPEN.end == time(0)
    assert ALWAYS_OPEN.day_length == timedelta(hours=24)
    assert CN_OFFICE.day_length == timedelta(hours=9)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"days": ["mon", "funday"]}, "days must be among"),
        ({"start": "18:00", "end": "09:00"}, "must be after start"),
        ({"start": "9am"}, "expected a time"),
        ({"tz": "Mars/Olympus_Mons"}, "unknown time zone"),
        ({"holidays": "XX"}, "no country"),
        ({"days": []}, "at least one working weekday"),
        ({"extra_holidays": ["2026-01-05"], "extra_workdays": ["2026-01-05"]}, "both"),
    ],
)
def test_an_invalid_spec_is_refused_with_a_reason(spec: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"tz": "Asia/Shanghai", "days": WEEKDAYS, **spec}

    with pytest.raises(ValueError, match=message):
        BusinessCalendar.from_spec(**args)  # type: ignore[arg-type]


def test_naive_datetimes_are_refused() -> None:
    naive = datetime(2026, 3, 16, 10)

    for call in (
        lambda: is_open(CN_OFFICE, naive),
        lambda: next_open(CN_OFFICE, naive),
        lambda: add_business_time(CN_OFFICE, naive, timedelta(hours=1)),
        lambda: business_time_between(CN_OFFICE, naive, sh(2026, 3, 17)),
    ):
        with pytest.raises(ValueError, match="timezone-aware"):
            call()


def test_a_negative_duration_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        add_business_time(CN_OFFICE, sh(2026, 3, 16, 10), timedelta(minutes=-1))


def test_a_calendar_that_never_opens_again_fails_instead_of_searching_forever() -> None:
    only_once = BusinessCalendar("UTC", frozenset(), time(9), time(17), extra_workdays=frozenset({date(2020, 1, 6)}))

    with pytest.raises(ValueError, match="closed"):
        next_open(only_once, utc(2026, 1, 1))
    assert business_time_between(only_once, utc(2020, 1, 1), utc(2026, 1, 1)) == timedelta(hours=8)


# --- Laws, for any calendar, start and duration ---------------------------------------

CALENDARS = st.sampled_from(
    [
        CN_OFFICE,
        NY_EVERY_DAY,
        NY_ROUND_THE_CLOCK,
        replace(NY_EVERY_DAY, start=time(1, 30), end=time(2, 45), holiday_country="US"),
        BusinessCalendar.from_spec("Europe/London", WEEKDAYS, "08:30", "24:00", holidays="GB"),
    ]
)
STARTS = st.datetimes(
    min_value=datetime(2025, 1, 1),
    max_value=datetime(2027, 12, 31),
    timezones=st.sampled_from([UTC, SHANGHAI, NEW_YORK]),
    allow_imaginary=False,
)
DURATIONS = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=20))
# No example database: it would write .hypothesis/ into the checkout; no deadline:
# the first lookup of a holiday year is slower than the rest.
laws = settings(database=None, deadline=None)


@laws
@given(CALENDARS, STARTS, DURATIONS, DURATIONS)
def test_add_business_time_is_monotonic_in_duration(
    cal: BusinessCalendar, start: datetime, d1: timedelta, d2: timedelta
) -> None:
    shorter, longer = sorted((d1, d2))

    assert add_business_time(cal, start, shorter) <= add_business_time(cal, start, longer)


@laws
@given(CALENDARS, STARTS, DURATIONS)
def test_business_time_between_undoes_add_business_time(
    cal: BusinessCalendar, start: datetime, duration: timedelta
) -> None:
    due = add_business_time(cal, start, duration)

    assert business_time_between(cal, start, due) == duration


@laws
@given(CALENDARS, STARTS)
def test_adding_nothing_gives_the_start_if_open_else_the_next_opening(cal: BusinessCalendar, start: datetime) -> None:
    due = add_business_time(cal, start, timedelta(0))

    assert due == next_open(cal, start)
    # Timestamps, not ==: PEP 495 makes an ambiguous (DST fold) local time unequal to every
    # instant in another zone, even the same instant.
    assert (due.timestamp() == start.timestamp()) == is_open(cal, start)
    assert is_open(cal, due)


@laws
@given(CALENDARS, STARTS, DURATIONS, DURATIONS)
def test_business_time_adds_up_over_consecutive_spans(
    cal: BusinessCalendar, a: datetime, d1: timedelta, d2: timedelta
) -> None:
    a = a.astimezone(UTC)  # so that + and - below are elapsed time, not wall-clock time
    b, c = a + d1, a + d1 + d2

    assert business_time_between(cal, a, c) == business_time_between(cal, a, b) + business_time_between(cal, b, c)
    assert business_time_between(cal, a, c) <= c - a


@laws
@given(STARTS, DURATIONS)
def test_a_calendar_open_24x7_equals_the_wall_clock(start: datetime, duration: timedelta) -> None:
    start = start.astimezone(UTC)  # so that + is elapsed time, not wall-clock time
    assert add_business_time(ALWAYS_OPEN, start, duration) == start + duration
    assert business_time_between(ALWAYS_OPEN, start, start + duration) == duration
