"""Working hours and the company's business hours (with public holidays). Pure.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import lru_cache

import holidays as holiday_calendars
from pydantic import (
    field_validator,
    model_validator,
)

from leadrelay.shared.policy.values import WEEKDAYS, ClockTime, Days, Section, TimeOfDay, problems_error

# --- hours -------------------------------------------------------------------------------------


class WorkingHours(Section):
    """A weekly shift. ``end`` before ``start`` means the shift runs past midnight; the day
    listed is the day it starts. ``"00:00"``-``"24:00"`` is the whole day."""

    days: Days = WEEKDAYS[:5]
    start: ClockTime = TimeOfDay(9 * 60)
    end: ClockTime = TimeOfDay(18 * 60)

    @model_validator(mode="after")
    def _sensible(self) -> WorkingHours:
        if self.start.minutes == 24 * 60:
            raise problems_error([("start", 'a shift cannot start at "24:00"; use "00:00"')])
        if self.start == self.end:
            raise problems_error([("end", 'start and end are equal; for all day use "00:00"-"24:00"')])
        return self

    def shift_day(self, local: datetime) -> date | None:
        """The day whose shift covers the wall time ``local``, or None when off hours."""
        minute = local.hour * 60 + local.minute
        today, yesterday = local.date(), local.date() - timedelta(days=1)
        start, end = self.start.minutes, self.end.minutes
        if start < end:
            return today if self._works(today) and start <= minute < end else None
        if self._works(today) and minute >= start:
            return today
        if self._works(yesterday) and minute < end:
            return yesterday
        return None

    def _works(self, day: date) -> bool:
        return WEEKDAYS[day.weekday()] in self.days

    def describe(self) -> str:
        return f"{','.join(self.days)} {self.start}-{self.end}"


class BusinessHours(WorkingHours):
    """The company's hours: the SLA business clock, and the shift of every rep without their
    own ``working_hours``. Public holidays of the ``holidays`` country are closed, and so
    are ``extra_holidays``; ``extra_workdays`` (a make-up Saturday, 调休) are open. Business
    hours end on the day they start (a rep's own shift may run past midnight)."""

    holidays: str | None = None  # a country code known to the ``holidays`` package, e.g. CN
    extra_holidays: tuple[date, ...] = ()
    extra_workdays: tuple[date, ...] = ()

    @field_validator("holidays")
    @classmethod
    def _known_country(cls, code: str | None) -> str | None:
        if code is not None and code.upper() not in _holiday_countries():
            raise ValueError(f"unknown holiday calendar {code!r} (use a country code such as CN)")
        return code.upper() if code else None

    @model_validator(mode="after")
    def _same_day(self) -> BusinessHours:
        if self.end < self.start:
            raise problems_error([("end", 'business hours cannot run past midnight; end by "24:00"')])
        if clash := sorted(set(self.extra_holidays) & set(self.extra_workdays)):
            raise problems_error([("extra_workdays", f"{clash[0]} is also an extra holiday")])
        return self


@lru_cache(maxsize=1)
def _holiday_countries() -> frozenset[str]:
    return frozenset(holiday_calendars.list_supported_countries())


