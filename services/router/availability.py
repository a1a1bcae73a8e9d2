"""Whether a rep can take a lead right now, and if not, why not, in words a manager reads.

Pure: the time is passed in, the rep's load is passed in. A rep who is paused, out of office,
off shift (in the rep's own time zone), on a business-hours holiday, at their open-lead cap or
at their daily cap is unavailable, and the router never assigns to an unavailable rep.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import NamedTuple
from zoneinfo import ZoneInfo

from leadrelay.services.router.business_hours import BusinessCalendar, day_window, next_open
from leadrelay.shared.policy import WEEKDAYS, Absence, BusinessHours, Policy, Rep, WorkingHours


class RepLoad(NamedTuple):
    """What a rep is carrying. ``assigned_today`` counts leads given since the start of the
    caller's day; ``conversion_rate`` is None for a rep with no track record yet. (A named
    tuple, not a dataclass: a simulation makes one per assignment, a million times.)"""

    open: int = 0
    assigned_today: int = 0
    conversion_rate: float | None = None
    last_assigned_at: datetime | None = None


IDLE = RepLoad()


def unavailability(rep: Rep, policy: Policy, load: RepLoad, now: datetime) -> str | None:
    """Returns why ``rep`` cannot take a lead at ``now`` (an aware datetime), or None if they can.
    The first reason found is given, in the order a manager would check them."""
    why_not = why_unavailable(rep, policy, load, now)
    return None if why_not is None else why_not()


Reason = Callable[[], str]


def why_unavailable(rep: Rep, policy: Policy, load: RepLoad, now: datetime) -> Reason | None:
    """:func:`unavailability` with the words left unwritten: None when the rep can take a
    lead, else a function returning the reason. Routing a lead needs only the yes or no, and
    the words (a time formatted in the rep's zone, say) cost more than the check."""
    if rep.paused:
        return _paused
    profile = _profiles.get((id(rep), id(policy)))
    if profile is None or profile.rep is not rep or profile.policy is not policy:
        profile = profile_of(rep, policy)
    return _why_unavailable(profile, load, now)


def why_unavailable_of(profile: AvailabilityProfile, load: RepLoad, now: datetime) -> Reason | None:
    """:func:`why_unavailable` for the rep and policy of ``profile`` (from :func:`profile_of`),
    for a caller that keeps the profiles of the reps it asks about."""
    if profile.rep.paused:
        return _paused
    return _why_unavailable(profile, load, now)


def _why_unavailable(profile: AvailabilityProfile, load: RepLoad, now: datetime) -> Reason | None:
    for start, end, absence in profile.absences:
        if start <= now < end:
            return lambda: f"out of office until {absence.until()}"
    week = profile.week
    if profile.always_on:
        pass  # a shift round the clock, every day
    elif week is not None:  # the rep's own shift: one look in the week's table
        tz = profile.tz
        local = _local(now, tz)
        if not week[local.weekday() * _MINUTES_A_DAY + local.hour * 60 + local.minute]:
            return lambda: _off_hours(tz, local)
    elif off_shift := _off_shift(profile, now):
        return off_shift
    cap = profile.rep.capacity
    if cap.open is not None and load.open >= cap.open:
        return lambda: f"at capacity (open {load.open}/{cap.open})"
    if cap.per_day is not None and load.assigned_today >= cap.per_day:
        return lambda: f"daily cap reached ({load.assigned_today}/{cap.per_day})"
    return None


def _paused() -> str:
    return "paused"


# --- what a rep's availability depends on, worked out once -------------------------------------
# A routing decision asks about every rep of a pool, and a simulation asks a million times: the
# rep's zone, absence windows and shift are fixed by the policy, so they are worked out once
# per (rep, policy) pair of objects and kept. Both objects are kept in the entry, so their ids
# cannot be reused while it lives; the table is bounded and starts over when full.


@dataclass(frozen=True, slots=True)
class AvailabilityProfile:
    rep: Rep
    policy: Policy
    tz: ZoneInfo
    absences: tuple[tuple[datetime, datetime, Absence], ...]
    week: bytes | None  # own shift: 1 for each minute of the week (Monday 00:00 first) on shift
    calendar: BusinessCalendar | None  # business hours: the company calendar in the rep's zone
    always_on: bool = False  # own shift covering every minute of the week


_PROFILE_LIMIT = 65_536
_profiles: dict[tuple[int, int], AvailabilityProfile] = {}


def profile_of(rep: Rep, policy: Policy) -> AvailabilityProfile:
    found = _profiles.get((id(rep), id(policy)))
    if found is not None and found.rep is rep and found.policy is policy:
        return found
    tz = policy.timezone_of(rep)
    hours = rep.working_hours
    profile = AvailabilityProfile(
        rep=rep,
        policy=policy,
        tz=tz,
        absences=tuple((*absence.window(tz), absence) for absence in rep.out_of_office),
        week=week_table(hours) if hours is not None else None,
        always_on=hours is not None and all(week_table(hours)),
        calendar=business_calendar(policy.business_hours, tz.key) if hours is None else None,
    )
    if len(_profiles) >= _PROFILE_LIMIT:
        _profiles.clear()
    _profiles[(id(rep), id(policy))] = profile
    return profile


_MINUTES_A_DAY = 24 * 60
_A_MONDAY = date(2024, 1, 1)


@lru_cache(maxsize=1024)
def week_table(hours: WorkingHours) -> bytes:
    """:meth:`WorkingHours.shift_day` for every minute of a week, as a table: whether a shift
    covers a wall time depends only on its weekday and minute of the day."""
    table = bytearray(7 * _MINUTES_A_DAY)
    for day in range(7):
        midnight = datetime.combine(_A_MONDAY + timedelta(days=day), datetime.min.time())
        for minute in range(_MINUTES_A_DAY):
            if hours.shift_day(midnight + timedelta(minutes=minute)) is not None:
                table[day * _MINUTES_A_DAY + minute] = 1
    return bytes(table)


# Instants in local time, for the last few instants seen: the reps of one pool are judged at
# one instant, and most share a zone or two. Bounded: the table starts over when full.
_LOCAL_LIMIT = 64
_locals: dict[tuple[datetime, ZoneInfo], datetime] = {}


def _local(now: datetime, tz: ZoneInfo) -> datetime:
    local = _locals.get((now, tz))
    if local is None:
        if len(_locals) >= _LOCAL_LIMIT:
            _locals.clear()
        local = _locals[(now, tz)] = now.astimezone(tz)
    return local


_last_timestamp: tuple[datetime, float] | None = None


def _timestamp(now: datetime) -> float:
    """``now.timestamp()``, remembered for the last instant (one immutable tuple, replaced whole)."""
    global _last_timestamp
    last = _last_timestamp
    if last is not None and last[0] is now:
        return last[1]
    instant = now.timestamp()
    _last_timestamp = (now, instant)
    return instant


def _off_shift(profile: AvailabilityProfile, now: datetime) -> Reason | None:
    tz = profile.tz
    local = _local(now, tz)
    if profile.week is not None:
        if profile.week[local.weekday() * _MINUTES_A_DAY + local.hour * 60 + local.minute]:
            return None
        return lambda: _off_hours(tz, local)
    # Reps on business hours keep the company calendar (holidays, make-up workdays) in their
    # own time zone: the same calendar arithmetic the SLA clocks use. Every rep of a pool on
    # the same calendar gets the same answer at one instant: it is worked out once.
    calendar = profile.calendar
    assert calendar is not None
    key = (now, id(calendar))
    found = _business_shifts.get(key)
    if found is not None and found[0] is calendar:
        return found[1]
    why = _business_off_shift(profile, calendar, local, now)
    if len(_business_shifts) >= _BUSINESS_SHIFTS_LIMIT:
        _business_shifts.clear()
    _business_shifts[key] = (calendar, why)
    return why


_BUSINESS_SHIFTS_LIMIT = 256
_business_shifts: dict[tuple[datetime, int], tuple[BusinessCalendar, Reason | None]] = {}


def _business_off_shift(profile: AvailabilityProfile, calendar: BusinessCalendar, local: datetime, now: datetime) -> Reason | None:
    tz = profile.tz
    day = local.date()
    instant = _timestamp(now)
    for opens, closes in _open_seconds(calendar, day):
        if opens <= instant < closes:
            return None
    if WEEKDAYS[local.weekday()] in profile.policy.business_hours.days and not calendar.is_workday(day):
        return lambda: f"holiday ({tz.key} {day.isoformat()})"
    return lambda: _off_hours(tz, local)


def _off_hours(tz: ZoneInfo, local: datetime) -> str:
    return f"off hours ({tz.key} {local:%a %H:%M})"


_ONE_DAY = timedelta(days=1)
_WINDOWS_LIMIT = 16_384
_windows: dict[tuple[int, date], tuple[BusinessCalendar, tuple[tuple[datetime, datetime], ...]]] = {}


def _open_seconds(calendar: BusinessCalendar, day: date) -> tuple[tuple[float, float], ...]:
    """:func:`_windows_around` as POSIX timestamps: comparing floats is cheaper than comparing
    datetimes of different zones, and a microsecond-exact timestamp orders the same way."""
    found = _seconds.get((id(calendar), day))
    if found is not None and found[0] is calendar:
        return found[1]
    around = tuple((opens.timestamp(), closes.timestamp()) for opens, closes in _windows_around(calendar, day))
    if len(_seconds) >= _WINDOWS_LIMIT:
        _seconds.clear()
    _seconds[(id(calendar), day)] = (calendar, around)
    return around


_seconds: dict[tuple[int, date], tuple[BusinessCalendar, tuple[tuple[float, float], ...]]] = {}


def _windows_around(calendar: BusinessCalendar, day: date) -> tuple[tuple[datetime, datetime], ...]:
    """The open windows of ``day`` and its neighbours (UTC), as ``business_hours.is_open``
    checks them: where a clock change crosses midnight an instant's local date can differ
    from the day whose hours contain it."""
    found = _windows.get((id(calendar), day))
    if found is not None and found[0] is calendar:
        return found[1]
    windows = (day_window(calendar, day + offset * _ONE_DAY) for offset in (-1, 0, 1))
    around = tuple(window for window in windows if window is not None)
    if len(_windows) >= _WINDOWS_LIMIT:
        _windows.clear()
    _windows[(id(calendar), day)] = (calendar, around)
    return around


@lru_cache(maxsize=256)
def business_calendar(hours: BusinessHours, tz: str) -> BusinessCalendar:
    """The policy's business hours as a calendar in ``tz``."""
    return BusinessCalendar.from_spec(
        tz,
        hours.days,
        str(hours.start),
        str(hours.end),
        holidays=hours.holidays,
        extra_holidays=hours.extra_holidays,
        extra_workdays=hours.extra_workdays,
    )


def describe_load(rep: Rep, load: RepLoad) -> str:
    """``open 3/40, today 1/15`` (a cap is left out when the rep has none)."""
    open_part = f"open {load.open}" + (f"/{rep.capacity.open}" if rep.capacity.open is not None else "")
    today = f"today {load.assigned_today}" + (f"/{rep.capacity.per_day}" if rep.capacity.per_day is not None else "")
    return f"{open_part}, {today}"


# Hours ending at 24:00 run into the next day's opening at 00:00; a search for the end gives
# up after a week of unbroken opening and says "no end".
_LONGEST_OPEN_RUN = 8


def open_until(calendar: BusinessCalendar, now: datetime) -> datetime | None:
    """When the calendar closes next, if it is open at ``now`` (UTC): an opening that ends at
    24:00 runs on into one that starts at 00:00. None when it stays open for over a week;
    ``now`` itself when it is closed."""
    closes = None
    for opens, ends in _windows_around(calendar, now.astimezone(calendar.zone).date()):
        if opens <= now < ends:
            closes = ends
    if closes is None:
        return now
    for _ in range(_LONGEST_OPEN_RUN):
        following = [ends for opens, ends in _windows_around(calendar, closes.astimezone(calendar.zone).date())
                     if opens == closes]
        if not following:
            return closes
        closes = following[0]
    return None


# --- when a rep comes on shift -----------------------------------------------------------------
# Holding a lead for the next shift needs the first minute one of its reps is on shift again.
# A week-long shift table repeats, so a week and a day of shift starts is enough to find it.
_DAYS_AHEAD = 8


def absent_at(profile: AvailabilityProfile, at: datetime) -> bool:
    """Whether the rep is out of office at ``at``."""
    return any(start <= at < end for start, end, _ in profile.absences)


def next_shift_start(profile: AvailabilityProfile, at: datetime) -> datetime | None:
    """The first instant at or after ``at`` (aware) at which the rep's shift covers them: ``at``
    itself when on shift, else the next shift start (UTC). Pause, absences and caps are not
    considered. None when the shift never comes (business hours closed for over two years)."""
    if profile.always_on:
        return at
    week = profile.week
    if week is None:
        assert profile.calendar is not None
        try:
            return next_open(profile.calendar, at)
        except ValueError:
            return None
    tz = profile.tz
    local = at.astimezone(tz)
    if week[local.weekday() * _MINUTES_A_DAY + local.hour * 60 + local.minute]:
        return at
    starts = shift_starts(week)
    for offset in range(_DAYS_AHEAD):
        day = local.date() + offset * _ONE_DAY
        for minute in starts[day.weekday()]:
            # A start in a spring-forward gap reads as zoneinfo's fold=0 (shifted by the gap).
            instant = datetime.combine(day, time(minute // 60, minute % 60), tz).astimezone(UTC)
            if instant > at:
                return instant
    return None


@lru_cache(maxsize=1024)
def shift_starts(week: bytes) -> tuple[tuple[int, ...], ...]:
    """Per weekday (Monday first), the minutes of the day at which a shift begins in a week table
    (on, after a minute off; a shift running on from the day before does not begin again)."""
    size = len(week)
    starts: list[list[int]] = [[] for _ in range(7)]
    for position in range(size):
        if week[position] and not week[position - 1]:  # position 0 looks back at Sunday 23:59
            starts[position // _MINUTES_A_DAY].append(position % _MINUTES_A_DAY)
    return tuple(tuple(day) for day in starts)
