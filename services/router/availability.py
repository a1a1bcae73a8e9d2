"""Whether a rep can take a lead right now, and if not, why not, in words a manager reads.

Pure: the time is passed in, the rep's load is passed in. A rep who is paused, out of office,
off shift (in the rep's own time zone), on a business-hours holiday, at their open-lead cap or
at their daily cap is unavailable, and the router never assigns to an unavailable rep.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from services.router.business_hours import BusinessCalendar, _window
from shared.policy import WEEKDAYS, BusinessHours, Policy, Rep, WorkingHours


@dataclass(frozen=True)
class RepLoad:
    """What a rep is carrying. ``assigned_today`` counts leads given since the start of the
    caller's day; ``conversion_rate`` is None for a rep with no track record yet."""

    open: int = 0
    assigned_today: int = 0
    conversion_rate: float | None = None
    last_assigned_at: datetime | None = None


IDLE = RepLoad()


def unavailability(rep: Rep, policy: Policy, load: RepLoad, now: datetime) -> str | None:
    """Returns why ``rep`` cannot take a lead at ``now`` (an aware datetime), or None if they can.
    The first reason found is given, in the order a manager would check them."""
    if rep.paused:
        return "paused"
    tz = policy.timezone_of(rep)
    for absence in rep.out_of_office:
        start, end = absence.window(tz)
        if start <= now < end:
            return f"out of office until {absence.until()}"
    if off_shift := _off_shift(rep, policy, tz, now):
        return off_shift
    cap = rep.capacity
    if cap.open is not None and load.open >= cap.open:
        return f"at capacity (open {load.open}/{cap.open})"
    if cap.per_day is not None and load.assigned_today >= cap.per_day:
        return f"daily cap reached ({load.assigned_today}/{cap.per_day})"
    return None


# Whether a shift is on at an instant depends on the instant, the zone and the hours only, and
# a routing decision asks it for every rep of a pool at one instant: many reps share a zone and
# hours, so the answer is remembered per (instant, zone, hours). The hours object is kept in
# the entry, so its id cannot be reused while the entry lives. Bounded: the table starts over.
_SHIFT_MEMO_LIMIT = 4096
_shifts: dict[tuple[datetime, str, int], tuple[object, str | None]] = {}


def _off_shift(rep: Rep, policy: Policy, tz: ZoneInfo, now: datetime) -> str | None:
    hours: WorkingHours = rep.working_hours if rep.working_hours is not None else policy.business_hours
    key = (now, tz.key, id(hours))
    found = _shifts.get(key)
    if found is not None and found[0] is hours:
        return found[1]
    why = _shift_state(rep.working_hours, policy.business_hours, tz, now)
    if len(_shifts) >= _SHIFT_MEMO_LIMIT:
        _shifts.clear()
    _shifts[key] = (hours, why)
    return why


def _shift_state(own: WorkingHours | None, business: BusinessHours, tz: ZoneInfo, now: datetime) -> str | None:
    local = now.astimezone(tz)
    if own is not None:
        return _off_hours(tz, local) if own.shift_day(local) is None else None
    # Reps on business hours keep the company calendar (holidays, make-up workdays) in their
    # own time zone: the same calendar arithmetic the SLA clocks use.
    calendar = _calendar(business, tz.key)
    if _is_open(calendar, local.date(), now):
        return None
    if WEEKDAYS[local.weekday()] in business.days and not calendar.is_workday(local.date()):
        return f"holiday ({tz.key} {local.date().isoformat()})"
    return _off_hours(tz, local)


def _off_hours(tz: ZoneInfo, local: datetime) -> str:
    return f"off hours ({tz.key} {local:%a %H:%M})"


_ONE_DAY = timedelta(days=1)


def _is_open(calendar: BusinessCalendar, day: date, at: datetime) -> bool:
    """``business_hours.is_open(calendar, at)``, with ``day`` the local date of ``at``."""
    return any(opens <= at < closes for opens, closes in _windows_around(calendar, day))


@lru_cache(maxsize=4096)
def _windows_around(calendar: BusinessCalendar, day: date) -> tuple[tuple[datetime, datetime], ...]:
    # The day before and after too, as is_open looks at them: where a clock change crosses
    # midnight an instant's local date can differ from the day whose hours contain it.
    windows = (_window(calendar, day + offset * _ONE_DAY) for offset in (-1, 0, 1))
    return tuple(window for window in windows if window is not None)


_calendars: dict[tuple[int, str], tuple[BusinessHours, BusinessCalendar]] = {}


def _calendar(hours: BusinessHours, tz: str) -> BusinessCalendar:
    """:func:`business_calendar`, found by the hours object's identity (hashing a pydantic
    model on every lookup costs more than the lookup)."""
    found = _calendars.get((id(hours), tz))
    if found is not None and found[0] is hours:
        return found[1]
    calendar = business_calendar(hours, tz)
    if len(_calendars) >= 256:
        _calendars.clear()
    _calendars[(id(hours), tz)] = (hours, calendar)
    return calendar


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
