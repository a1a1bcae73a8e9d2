"""Whether a rep can take a lead right now, and if not, why not, in words a manager reads.

Pure: the time is passed in, the rep's load is passed in. A rep who is paused, out of office,
off shift (in the rep's own time zone), on a business-hours holiday, at their open-lead cap or
at their daily cap is unavailable, and the router never assigns to an unavailable rep.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from services.router.business_hours import BusinessCalendar, is_open
from shared.policy import WEEKDAYS, BusinessHours, Policy, Rep


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


def _off_shift(rep: Rep, policy: Policy, tz: ZoneInfo, now: datetime) -> str | None:
    local = now.astimezone(tz)
    off_hours = f"off hours ({tz.key} {local:%a %H:%M})"
    if rep.working_hours is not None:
        return off_hours if rep.working_hours.shift_day(local) is None else None
    # Reps on business hours keep the company calendar (holidays, make-up workdays) in their
    # own time zone: the same calendar arithmetic the SLA clocks use.
    hours = policy.business_hours
    calendar = business_calendar(hours, tz.key)
    if is_open(calendar, now):
        return None
    if WEEKDAYS[local.weekday()] in hours.days and not calendar.is_workday(local.date()):
        return f"holiday ({tz.key} {local.date().isoformat()})"
    return off_hours


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
