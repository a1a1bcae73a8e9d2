"""Business calendars and the arithmetic of open time, for SLA clocks.

Pure: no I/O and no clock reads; every instant is passed in. The only state is a
process-wide cache of public-holiday tables, which are a deterministic function of
(country, year).

Guarantees:
- Every function takes aware datetimes (``ValueError`` on naive ones) in any zone
  and returns UTC-aware datetimes.
- Open time is real elapsed time: an opening day shortened or lengthened by a DST
  change counts what a stopwatch would count.
- Opening hours are half-open, ``[start, end)``: at closing time the calendar is closed.
- A local opening or closing time that does not exist (the spring-forward gap) is
  shifted forward by the length of the gap (02:30 becomes 03:30); one that occurs
  twice (the fall-back fold) means its first occurrence. This is zoneinfo's
  ``fold=0`` reading, the same one ``datetime.combine`` gives.
- Days are decided in this order: ``extra_workdays`` (open), ``extra_holidays``
  (closed), the country's make-up working days (open), the country's public
  holidays (closed), then the weekday set ``days``.

China's make-up working days (调休, e.g. the Saturday after National Day) come from
the ``holidays`` package: its ``weekend_workdays`` holds the weekend dates a day off
was moved from. Only dates the package knows are covered; the State Council
publishes each year's schedule late in the year before, so pin unknown ones with
``extra_workdays``/``extra_holidays``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

__all__ = [
    "BusinessCalendar",
    "add_business_time",
    "business_time_between",
    "is_open",
    "next_open",
]

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# ``end == MIDNIGHT`` means 24:00, the midnight that ends the day: an end can never
# equal the midnight that begins it, so the reading is unambiguous.
MIDNIGHT = time(0)
_ONE_DAY = timedelta(days=1)
# A search for the next opening in a calendar that never opens would never end.
# Two years is far beyond any real closure (China's longest break is about 9 days).
_MAX_CLOSED_DAYS = 2 * 366


@dataclass(frozen=True)
class BusinessCalendar:
    """When a team works: weekdays and hours in one IANA zone, minus holidays.

    ``days`` holds weekday numbers (0 = Monday … 6 = Sunday); ``end == time(0)``
    means 24:00. ``holiday_country`` is a country code of the ``holidays`` package
    ("CN", "US"), or None for no public holidays. Hours that cross midnight (night
    shifts) are not supported.
    """

    tz: str
    days: frozenset[int]
    start: time
    end: time
    holiday_country: str | None = None
    extra_holidays: frozenset[date] = frozenset()
    extra_workdays: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.tz)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {self.tz!r}") from exc
        if not self.days <= set(range(7)):
            raise ValueError(f"days must be weekday numbers 0..6, got {sorted(self.days)}")
        if not self.days and not self.extra_workdays:
            raise ValueError("a calendar needs at least one working weekday or extra workday")
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("start and end are local wall-clock times, without tzinfo")
        if self.end != MIDNIGHT and self.end <= self.start:
            raise ValueError(f"end {self.end} must be after start {self.start}")
        if clash := self.extra_holidays & self.extra_workdays:
            raise ValueError(f"dates both extra holidays and extra workdays: {sorted(clash)}")
        if self.holiday_country is not None:
            _require_holiday_country(self.holiday_country)

    @classmethod
    def from_spec(
        cls,
        tz: str,
        days: Iterable[str],
        start: str = "09:00",
        end: str = "18:00",
        holidays: str | None = None,
        extra_holidays: Iterable[date | str] = (),
        extra_workdays: Iterable[date | str] = (),
    ) -> BusinessCalendar:
        """Build from the policy file's ``business_hours`` section.

        ``days`` are names like "mon"; times are "HH:MM", and ``end`` may be "24:00";
        extra dates are dates or ISO strings. Raises ValueError on anything invalid.
        """
        names = list(days)
        try:
            weekdays = frozenset(DAY_NAMES.index(name.strip().lower()) for name in names)
        except ValueError as exc:
            raise ValueError(f"days must be among {', '.join(DAY_NAMES)}; got {names}") from exc
        return cls(
            tz=tz,
            days=weekdays,
            start=_parse_time(start),
            end=MIDNIGHT if end.strip() == "24:00" else _parse_time(end),
            holiday_country=holidays.strip().upper() if holidays else None,
            extra_holidays=frozenset(map(_parse_date, extra_holidays)),
            extra_workdays=frozenset(map(_parse_date, extra_workdays)),
        )

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)  # ZoneInfo caches instances per key

    @property
    def day_length(self) -> timedelta:
        """Open time in an ordinary (non-DST-change) working day, e.g. 9h for 09:00-18:00.

        Lets a policy turn "N business days" into open time: ``n * cal.day_length``.
        """
        end = timedelta(hours=24) if self.end == MIDNIGHT else _since_midnight(self.end)
        return end - _since_midnight(self.start)

    def is_workday(self, day: date) -> bool:
        """Whether the calendar opens at all on this local date."""
        if day in self.extra_workdays:
            return True
        if day in self.extra_holidays:
            return False
        if self.holiday_country is not None:
            days_off, make_up_workdays = _public_calendar(self.holiday_country, day.year)
            if day in make_up_workdays:
                return True
            if day in days_off:
                return False
        return day.weekday() in self.days


def is_open(cal: BusinessCalendar, at: datetime) -> bool:
    """Whether ``at`` falls inside opening hours."""
    _require_aware(at, "at")
    day = at.astimezone(cal.zone).date()
    # Neighbouring days too: where a clock change crosses midnight, an instant's local
    # date can differ from the day whose hours contain it.
    windows = (day_window(cal, day + offset * _ONE_DAY) for offset in (-1, 0, 1))
    return any(w is not None and w[0] <= at < w[1] for w in windows)


def next_open(cal: BusinessCalendar, at: datetime) -> datetime:
    """The earliest open instant at or after ``at`` (``at`` itself, in UTC, if open).

    Raises ValueError if the calendar stays closed for more than two years.
    """
    _require_aware(at, "at")
    opens, _ = next(_windows(cal, at))
    return opens


def add_business_time(cal: BusinessCalendar, start: datetime, duration: timedelta) -> datetime:
    """The instant at which ``duration`` of open time has elapsed since ``start``.

    Counting begins at ``next_open(cal, start)``, so a zero duration gives that
    instant; a duration that runs out exactly at closing time gives the closing
    instant, not the next opening. Walks whole days, so weeks cost only dozens of
    steps. Raises ValueError for a negative duration.
    """
    _require_aware(start, "start")
    if duration < timedelta(0):
        raise ValueError(f"duration must not be negative, got {duration}")
    remaining = duration
    for opens, closes in _windows(cal, start):
        if remaining <= closes - opens:
            return opens + remaining
        remaining -= closes - opens
    raise AssertionError("unreachable: _windows is unbounded")  # pragma: no cover


def business_time_between(cal: BusinessCalendar, a: datetime, b: datetime) -> timedelta:
    """Open time elapsed in ``[a, b)``; zero when ``b <= a``."""
    _require_aware(a, "a")
    _require_aware(b, "b")
    total = timedelta(0)
    if b > a:
        for opens, closes in _windows(cal, a, until=b):
            total += closes - opens
    return total


def _windows(
    cal: BusinessCalendar, after: datetime, until: datetime | None = None
) -> Iterator[tuple[datetime, datetime]]:
    """Yield, in order, the open windows overlapping ``[after, until)``, clipped to it.

    Unbounded when ``until`` is None; then raises ValueError once no window has opened
    for ``_MAX_CLOSED_DAYS``, because the caller's search would otherwise never end.
    """
    # In UTC, so that arithmetic on the clipped bounds is elapsed time: Python adds to
    # and subtracts same-zone datetimes as local wall-clock times, which DST breaks.
    after = after.astimezone(UTC)
    until = None if until is None else until.astimezone(UTC)
    zone = cal.zone
    # One day of margin each side, as in is_open; clipping makes the extra days harmless.
    day = after.astimezone(zone).date() - _ONE_DAY
    last_day = None if until is None else until.astimezone(zone).date() + _ONE_DAY
    # Windows never overlap, so no open time counts twice, even where a zone skips a whole
    # local day (Pacific/Apia, 2011-12-30) and two dates map to the same instants.
    floor = after
    closed_for = 0
    while last_day is None or day <= last_day:
        window = day_window(cal, day)
        day += _ONE_DAY
        if window is not None:
            opens = max(window[0], floor)
            closes = window[1] if until is None else min(window[1], until)
            if opens < closes:
                floor = closes
                closed_for = 0
                yield opens, closes
                continue
        closed_for += 1
        if until is None and closed_for > _MAX_CLOSED_DAYS:
            raise ValueError(f"calendar stays closed for over {_MAX_CLOSED_DAYS} days after {after}")


def day_window(cal: BusinessCalendar, day: date) -> tuple[datetime, datetime] | None:
    """The UTC instants at which ``day``'s opening hours begin and end, if it opens."""
    if not cal.is_workday(day):
        return None
    zone = cal.zone
    opens = datetime.combine(day, cal.start, zone).astimezone(UTC)
    if cal.end == MIDNIGHT:
        closes = datetime.combine(day + _ONE_DAY, MIDNIGHT, zone).astimezone(UTC)
    else:
        closes = datetime.combine(day, cal.end, zone).astimezone(UTC)
    # Shifting a gap time forward can carry the opening past the closing
    # (e.g. 02:30-03:00 on spring-forward day): then the day has no open time.
    return (opens, closes) if opens < closes else None


@functools.lru_cache(maxsize=512)
def _public_calendar(country: str, year: int) -> tuple[frozenset[date], frozenset[date]]:
    """(public days off, make-up working days) of one country and year.

    Cached because building a ``holidays`` table is slow next to the date arithmetic,
    and one table serves every lookup in its year.
    """
    table = holidays.country_holidays(country, years=year)
    make_up = frozenset(d for d in table.weekend_workdays if d.year == year)
    return frozenset(table), make_up


@functools.lru_cache(maxsize=64)
def _require_holiday_country(country: str) -> None:
    try:
        holidays.country_holidays(country)
    except NotImplementedError as exc:
        raise ValueError(f"the holidays package has no country {country!r}") from exc


def _require_aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got naive {value}")


def _parse_time(text: str) -> time:
    try:
        parsed = time.fromisoformat(text.strip())
    except ValueError as exc:
        raise ValueError(f"expected a time like 09:00, got {text!r}") from exc
    if parsed.tzinfo is not None:
        raise ValueError(f"expected a local time without offset, got {text!r}")
    return parsed


def _parse_date(value: date | str) -> date:
    if isinstance(value, datetime):  # a datetime never equals the date it falls on
        return value.date()
    return value if isinstance(value, date) else date.fromisoformat(value)


def _since_midnight(t: time) -> timedelta:
    return timedelta(hours=t.hour, minutes=t.minute, seconds=t.second, microseconds=t.microsecond)
