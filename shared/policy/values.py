"""The policy's value types: durations, percentages, times of day, days, moments, time zones,
identifiers, conditions, and the frozen :class:`Section` every part of the document is.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import difflib
import re
import zoneinfo
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

from leadrelay.shared.policy.conditions import Condition, ConditionError

SCHEMA_VERSION = 1

Grade = Literal["hot", "warm", "cold"]
Seniority = Literal["junior", "mid", "senior", "principal"]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
ChatPlatform = Literal["slack", "teams", "feishu", "dingtalk", "wecom"]
MatchDimension = Literal["territory", "industry", "language"]
PickStrategy = Literal["round_robin", "weighted_round_robin", "least_loaded", "performance_weighted"]
NarrowingStrategy = Literal["territory", "industry", "value_tier"]
Strategy = Literal[PickStrategy, NarrowingStrategy, "owner"]

WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MATCH_DIMENSIONS: tuple[MatchDimension, ...] = ("territory", "industry", "language")
WILDCARD = "*"


class PolicyError(ValueError):
    """The policy document is invalid. ``problems`` holds one ``path: message`` line per
    problem, and ``str(error)`` is those lines joined."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


def problems_error(problems: Sequence[tuple[str, str]]) -> PydanticCustomError:
    """A validation error carrying several (sub-path, message) problems to the formatter."""
    return PydanticCustomError("policy", "policy problems", {"problems": list(problems)})


def raise_problems(problems: Sequence[tuple[str, str]]) -> None:
    if problems:
        raise problems_error(problems)


def duplicate_problems(section: str, key: str, values: Sequence[str | None], what: str,
                shown_as: str = "") -> list[tuple[str, str]]:
    """A problem for every value seen before. ``shown_as`` is the section's full path, for the
    message, when ``section`` is relative to the model being validated."""
    first_seen: dict[str, int] = {}
    problems = []
    for index, value in enumerate(values):
        if value is None:  # unreadable (a shape problem, reported as such)
            continue
        if value in first_seen:
            also = f"{shown_as or section}[{first_seen[value]}]"
            problems.append((f"{section}[{index}].{key}", f"duplicate {what} {value!r} (also {also})"))
        first_seen.setdefault(value, index)
    return problems


def did_you_mean(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


# --- value types -------------------------------------------------------------------------------

_DURATION_PART = re.compile(r"(\d+)\s*([wdhms])")
_DURATION = re.compile(r"\s*(?:\d+\s*[wdhms]\s*)+")
_UNIT = {
    "w": timedelta(weeks=1),
    "d": timedelta(days=1),
    "h": timedelta(hours=1),
    "m": timedelta(minutes=1),
    "s": timedelta(seconds=1),
}


def parse_duration(value: Any) -> timedelta:
    """``90s``, ``15m``, ``4h``, ``1d``, ``2w``, ``1h30m`` -> timedelta; must be positive."""
    if isinstance(value, timedelta):
        duration = value
    else:
        text = value if isinstance(value, str) else repr(value)
        parts = _DURATION_PART.findall(text)
        units = [unit for _, unit in parts]
        if not _DURATION.fullmatch(text) or len(units) != len(set(units)):
            raise ValueError(f"bad duration {text!r} (use e.g. 90s, 15m, 4h, 1d, 1h30m)")
        duration = sum((int(count) * _UNIT[unit] for count, unit in parts), timedelta())
    if duration <= timedelta():
        raise ValueError("a duration must be longer than zero")
    return duration


def format_duration(duration: timedelta) -> str:
    """The inverse of :func:`parse_duration`: ``timedelta(hours=1, minutes=30)`` -> ``1h30m``."""
    seconds = int(duration.total_seconds())
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


def parse_percentage(value: Any) -> float:
    """``50%`` -> 0.5; a bare number is already a fraction (``0.5``)."""
    if isinstance(value, bool):
        raise ValueError(f"bad percentage {value!r} (use e.g. 50%)")
    if isinstance(value, int | float):
        fraction = float(value)
    elif isinstance(value, str) and re.fullmatch(r"\s*\d+(\.\d+)?\s*%\s*", value):
        fraction = float(value.strip().rstrip("%")) / 100
    else:
        raise ValueError(f"bad percentage {value!r} (use e.g. 50%)")
    if fraction < 0:
        raise ValueError("a percentage cannot be negative")
    return fraction


def format_percentage(fraction: float) -> str:
    return f"{round(fraction * 100, 6):g}%"


@dataclass(frozen=True, order=True)
class TimeOfDay:
    """A wall-clock time as minutes after midnight; 1440 is "24:00", the end of the day."""

    minutes: int

    @classmethod
    def parse(cls, value: Any) -> TimeOfDay:
        if isinstance(value, TimeOfDay):
            return value
        match = re.fullmatch(r"(\d{1,2}):(\d{2})", value.strip()) if isinstance(value, str) else None
        if match is None:
            raise ValueError(f'bad time {value!r} (use "HH:MM" in quotes, e.g. "09:00")')
        hours, minutes = int(match[1]), int(match[2])
        if minutes > 59 or hours > 24 or (hours == 24 and minutes):
            raise ValueError(f"bad time {value!r} (from 00:00 to 24:00)")
        return cls(hours * 60 + minutes)

    def __str__(self) -> str:
        return f"{self.minutes // 60:02d}:{self.minutes % 60:02d}"


_DAY_INDEX = {name: index for index, name in enumerate(WEEKDAYS)} | {
    name: index
    for index, name in enumerate(("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"))
}


def _parse_days(value: Any) -> tuple[Weekday, ...]:
    """``[mon, tue]``, ``[mon-fri, sun]``, ``mon-sun`` or full names -> weekdays in week order.
    A range may wrap the weekend: ``fri-mon``."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not items:
        raise ValueError("days must be a list such as [mon, tue, wed] or [mon-fri]")
    chosen: set[int] = set()
    for item in items:
        first, _, last = str(item).strip().lower().partition("-")
        if first not in _DAY_INDEX or (last and last not in _DAY_INDEX):
            raise ValueError(f"unknown day {item!r} (use mon, tue, wed, thu, fri, sat, sun)")
        start, end = _DAY_INDEX[first], _DAY_INDEX[last or first]
        chosen.update((start + step) % 7 for step in range((end - start) % 7 + 1))
    return tuple(WEEKDAYS[index] for index in sorted(chosen))


def _parse_moment(value: Any) -> date | datetime:
    """A date (whole days, inclusive) or a date-time; YAML gives either, text is parsed."""
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value) if len(value) == 10 else datetime.fromisoformat(value)
        except ValueError:
            pass
    raise ValueError(f"bad date {value!r} (use 2026-12-01 or 2026-12-01T09:00)")


def _known_timezone(name: str) -> str:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (use an IANA name such as Asia/Shanghai)") from None
    return name


def as_tuple(value: Any) -> Any:
    """Lets a single value stand for a one-item list (``notify: mgr-a``)."""
    return (value,) if isinstance(value, str) else value


def _parse_condition(value: Any) -> Condition:
    if isinstance(value, Condition):
        return value
    try:
        return Condition.parse(value)
    except ConditionError as exc:
        raise problems_error(exc.problems) from None


_ID_PATTERN = r"^[^\s]+$"

Duration = Annotated[
    timedelta,
    PlainValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "pattern": r"^(\d+[wdhms])+$", "examples": ["15m", "1h30m"]}),
]
Percentage = Annotated[
    float,
    PlainValidator(parse_percentage),
    PlainSerializer(format_percentage, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "pattern": r"^\d+(\.\d+)?%$", "examples": ["50%"]}),
]
ClockTime = Annotated[
    TimeOfDay,
    PlainValidator(TimeOfDay.parse),
    PlainSerializer(str, return_type=str),
    WithJsonSchema({"type": "string", "pattern": r"^\d{1,2}:\d{2}$", "examples": ["09:00", "24:00"]}),
]
Days = Annotated[
    tuple[Weekday, ...],
    BeforeValidator(_parse_days),
    WithJsonSchema({"type": "array", "items": {"type": "string"}, "examples": [["mon-fri"]]}),
]
Moment = Annotated[
    date | datetime,
    PlainValidator(_parse_moment),
    PlainSerializer(lambda moment: moment.isoformat(), return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "examples": ["2026-12-01", "2026-12-01T09:00"]}),
]
TimeZoneName = Annotated[str, AfterValidator(_known_timezone)]
Identifier = Annotated[str, Field(min_length=1, pattern=_ID_PATTERN)]
Names = Annotated[tuple[str, ...], BeforeValidator(as_tuple)]
When = Annotated[
    Condition,
    PlainValidator(_parse_condition),
    PlainSerializer(lambda condition: dict(condition.source), return_type=dict),
    WithJsonSchema(
        {
            "type": "object",
            "description": "fact: value | fact: [values] | fact: {operator: operand} | "
            "all: [...] | any: [...] | not: {...}; operators: eq ne in not_in gte gt lte lt "
            "matches contains exists free_domain",
        }
    ),
]


class Section(BaseModel):
    """Every part of the document: unknown keys are errors, values never change after load."""

    model_config = ConfigDict(frozen=True, extra="forbid")


