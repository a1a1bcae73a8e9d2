"""The routing policy: the YAML document sales ops write, its schema, and its loader.

Policy is data, not code. :func:`load_policy` turns the text into a frozen :class:`Policy` or
raises :class:`PolicyError` listing every problem with its path
(``rules[2].pool.team: unknown team 'enterprize' (did you mean 'enterprise'?)``), so a policy
is either wholly valid or not applied at all. Shape problems are reported first, then
references between sections (teams, reps, backups, managers, territories, accounts): when the
shape is wrong those are checked on the document as written, so one pass lists both kinds.

Values are readable in the document and typed in Python: ``15m``, ``1h30m``, ``1d`` become
``timedelta``; ``50%`` becomes ``0.5``; ``"09:00"`` and ``"24:00"`` become :class:`TimeOfDay`;
``when:`` clauses become parsed :class:`~shared.conditions.Condition` objects.
``Policy.model_dump(mode="json")`` gives back a document that loads to an equal policy.

This module is pure: no I/O, no clock.
"""

from __future__ import annotations

import difflib
import re
import zoneinfo
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from itertools import pairwise
from typing import Annotated, Any, Literal

import holidays as holiday_calendars
import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from shared.conditions import Condition, ConditionError

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


def _problems(problems: Sequence[tuple[str, str]]) -> PydanticCustomError:
    """A validation error carrying several (sub-path, message) problems to the formatter."""
    return PydanticCustomError("policy", "policy problems", {"problems": list(problems)})


def _raise_if(problems: Sequence[tuple[str, str]]) -> None:
    if problems:
        raise _problems(problems)


def _duplicates(section: str, key: str, values: Sequence[str | None], what: str,
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


def _did_you_mean(name: str, known: Iterable[str]) -> str:
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


def _as_tuple(value: Any) -> Any:
    """Lets a single value stand for a one-item list (``notify: mgr-a``)."""
    return (value,) if isinstance(value, str) else value


def _parse_condition(value: Any) -> Condition:
    if isinstance(value, Condition):
        return value
    try:
        return Condition.parse(value)
    except ConditionError as exc:
        raise _problems(exc.problems) from None


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
Names = Annotated[tuple[str, ...], BeforeValidator(_as_tuple)]
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
            raise _problems([("start", 'a shift cannot start at "24:00"; use "00:00"')])
        if self.start == self.end:
            raise _problems([("end", 'start and end are equal; for all day use "00:00"-"24:00"')])
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
            raise _problems([("end", 'business hours cannot run past midnight; end by "24:00"')])
        if clash := sorted(set(self.extra_holidays) & set(self.extra_workdays)):
            raise _problems([("extra_workdays", f"{clash[0]} is also an extra holiday")])
        return self


@lru_cache(maxsize=1)
def _holiday_countries() -> frozenset[str]:
    return frozenset(holiday_calendars.list_supported_countries())


# --- people ------------------------------------------------------------------------------------


class ChatDestination(Section):
    platform: ChatPlatform
    webhook: str = Field(min_length=1)
    secret: str | None = Field(default=None, repr=False)  # may be "env:NAME", resolved outside


class Capacity(Section):
    """Hard caps; None means no cap."""

    open: int | None = Field(default=None, ge=0)
    per_day: int | None = Field(default=None, ge=0)


class Absence(Section):
    """An out-of-office range. Dates are whole days, inclusive; date-times without an offset
    are in the rep's time zone."""

    start: Moment
    end: Moment

    @model_validator(mode="after")
    def _ordered(self) -> Absence:
        utc = zoneinfo.ZoneInfo("UTC")
        if self.window(utc)[1] <= self.window(utc)[0]:
            raise _problems([("end", "ends before it starts")])
        return self

    def window(self, tz: zoneinfo.ZoneInfo) -> tuple[datetime, datetime]:
        """The absence as an aware, half-open interval [start, end)."""
        return _instant(self.start, tz, end=False), _instant(self.end, tz, end=True)

    def until(self) -> str:
        if isinstance(self.end, datetime):
            return self.end.strftime("%Y-%m-%d %H:%M")
        return self.end.isoformat()


def _instant(moment: date | datetime, tz: zoneinfo.ZoneInfo, *, end: bool) -> datetime:
    if isinstance(moment, datetime):
        return moment if moment.tzinfo else moment.replace(tzinfo=tz)
    day = moment + timedelta(days=1) if end else moment
    return datetime(day.year, day.month, day.day, tzinfo=tz)


class Rep(Section):
    id: Identifier
    name: str | None = None
    team: str
    territories: Names = ()
    industries: Names = ()
    languages: Names = ()
    seniority: Seniority = "mid"
    capacity: Capacity = Capacity()
    weight: int = Field(default=1, ge=1, le=100)  # weighted round robin: turns per cycle
    timezone: TimeZoneName | None = None  # default: the policy's time zone
    working_hours: WorkingHours | None = None  # default: the policy's business hours
    out_of_office: tuple[Absence, ...] = ()
    paused: bool = False
    backup: str | None = None
    chat: ChatDestination | None = None
    email: str | None = Field(default=None, repr=False)


class Team(Section):
    name: Identifier
    manager: str
    fallback_queue: str | None = None  # default: the policy's fallback queue


class Manager(Section):
    id: Identifier
    name: str | None = None
    chat: ChatDestination | None = None
    email: str | None = Field(default=None, repr=False)


class Territory(Section):
    """A lead is in the territory when every listed dimension contains its value
    (case-insensitively): ``{countries: [CN], regions: [Shanghai, Zhejiang]}``."""

    countries: Names = ()
    regions: Names = ()
    cities: Names = ()

    @model_validator(mode="after")
    def _not_empty(self) -> Territory:
        if not (self.countries or self.regions or self.cities):
            raise _problems([("", "a territory needs countries, regions or cities")])
        return self

    def contains(self, facts: Mapping[str, Any]) -> bool:
        dimensions = (("country", self.countries), ("region", self.regions), ("city", self.cities))
        return all(
            _folded(facts.get(fact)) in {_folded(value) for value in values} for fact, values in dimensions if values
        )


def _folded(value: Any) -> str:
    return str(value).strip().casefold() if value is not None else ""


# --- scoring -----------------------------------------------------------------------------------


class Grades(Section):
    """Score thresholds: ``score >= hot`` is hot, ``score >= warm`` is warm, else cold."""

    hot: int = 60
    warm: int = 30

    @model_validator(mode="after")
    def _ordered(self) -> Grades:
        if self.hot <= self.warm:
            raise _problems([("hot", f"must be above warm ({self.warm})")])
        return self

    def grade_for(self, score: int) -> Grade:
        return "hot" if score >= self.hot else "warm" if score >= self.warm else "cold"


class ScoringRule(Section):
    name: str  # given as scoring.rules[i] when the document leaves it out
    when: When = Condition.always()
    points: int


class ScoringPolicy(Section):
    rules: tuple[ScoringRule, ...] = ()
    grades: Grades = Grades()

    @model_validator(mode="before")
    @classmethod
    def _name_rules(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and isinstance(data.get("rules"), list):
            rules = [
                {"name": f"scoring.rules[{i}]", **rule} if isinstance(rule, Mapping) else rule
                for i, rule in enumerate(data["rules"])
            ]
            data = {**data, "rules": rules}
        return data

    @model_validator(mode="after")
    def _unique_names(self) -> ScoringPolicy:
        names = [rule.name for rule in self.rules]
        _raise_if(_duplicates("rules", "name", names, "rule name", shown_as="scoring.rules"))
        return self


# --- SLA ---------------------------------------------------------------------------------------


class FirstTouch(Section):
    """How soon the owner must contact a lead, by grade; ``null`` means no clock for that grade."""

    hot: Duration | None = timedelta(minutes=15)
    warm: Duration | None = timedelta(hours=4)
    cold: Duration | None = timedelta(days=1)


class Ladder(Section):
    """When each step fires, as a share of the SLA; ``null`` switches a step off."""

    remind: Percentage | None = 0.5
    escalate: Percentage | None = 1.0
    reassign: Percentage | None = 1.5

    @model_validator(mode="after")
    def _ascending(self) -> Ladder:
        steps = [(name, share) for name, share in self.steps() if share is not None]
        for (before, earlier), (name, later) in pairwise(steps):
            if later <= earlier:
                raise _problems([(name, f"must come after {before} ({format_percentage(earlier)})")])
        return self

    def steps(self) -> list[tuple[str, float | None]]:
        return [("remind", self.remind), ("escalate", self.escalate), ("reassign", self.reassign)]


class SlaPolicy(Section):
    handoff: Duration = timedelta(hours=24)  # marketing -> sales: someone must accept within this
    first_touch: FirstTouch = FirstTouch()
    clock: Literal["business_hours", "wall"] = "business_hours"
    ladder: Ladder = Ladder()
    recycle_unworked_after: Duration | None = timedelta(days=7)  # back to the team pool
    # Set, an assignment is an offer the rep must accept within this time, else it passes to
    # the next candidate (the lead keeps its age: its other clocks run on).
    offer_timeout: Duration | None = None

    def first_touch_for(self, grade: Grade) -> timedelta | None:
        target: timedelta | None = getattr(self.first_touch, grade)
        return target


# --- routing -----------------------------------------------------------------------------------


class Pool(Section):
    """Who a rule may pick from. Selectors combine with AND; an empty pool is every rep.
    ``match`` keeps reps whose territories / industries / languages cover the lead's."""

    team: str | None = None
    reps: Names = ()
    seniority: tuple[Seniority, ...] = ()
    match: tuple[MatchDimension, ...] = ()

    def is_empty(self) -> bool:
        return self == Pool()


class RoutingRule(Section):
    """``when`` the lead matches, pick from ``pool`` with ``strategy``. The narrowing
    strategies (territory, industry, value_tier) narrow the pool, then pick with ``then``."""

    name: Identifier
    when: When = Condition.always()
    strategy: Strategy = "round_robin"
    pool: Pool = Pool()
    then: PickStrategy | None = None
    tiers: dict[Grade, tuple[Seniority, ...]] | None = None  # value_tier: grade -> seniorities
    floor: Percentage | None = None  # performance_weighted: lowest conversion rate counted

    @model_validator(mode="after")
    def _options_fit_strategy(self) -> RoutingRule:
        problems = []
        narrowing = self.strategy in ("territory", "industry", "value_tier")
        if self.then is not None and not narrowing:
            problems.append(("then", "only territory, industry and value_tier take 'then'"))
        if self.strategy == "value_tier" and not self.tiers:
            problems.append(("tiers", "the value_tier strategy needs tiers, e.g. {hot: [senior]}"))
        if self.tiers is not None and self.strategy != "value_tier":
            problems.append(("tiers", "only the value_tier strategy takes tiers"))
        uses_floor = "performance_weighted" in (self.strategy, self.then)
        if self.floor is not None and not uses_floor:
            problems.append(("floor", "only performance_weighted takes a floor"))
        if self.strategy == "owner" and not self.pool.is_empty():
            problems.append(("pool", "the owner strategy picks the lead's owner; it takes no pool"))
        _raise_if(problems)
        return self

    @property
    def picker(self) -> PickStrategy | Literal["owner"]:
        """The strategy that finally chooses among the available candidates."""
        if self.strategy in ("territory", "industry", "value_tier"):
            return self.then or "round_robin"
        return self.strategy  # type: ignore[return-value]

    @property
    def match_dimensions(self) -> tuple[MatchDimension, ...]:
        implied = {"territory": "territory", "industry": "industry"}.get(self.strategy)
        wanted = set(self.pool.match) | ({implied} if implied else set())
        return tuple(dimension for dimension in MATCH_DIMENSIONS if dimension in wanted)

    @property
    def performance_floor(self) -> float:
        return 0.05 if self.floor is None else self.floor


class PoolPolicy(Section):
    """The team pool (公海): who may claim recycled and unassigned leads, and how often."""

    claims_per_day: int | None = Field(default=20, ge=0)  # per rep; None = no limit
    min_interval: Duration | None = None  # between two claims by the same rep
    previous_owner_cooldown: Duration = timedelta(days=3)  # a recycled lead's old owner waits this long


class Fallback(Section):
    queue: str = "unassigned"
    notify: Names = ()


# --- the document ------------------------------------------------------------------------------


class Policy(Section):
    """The whole routing policy. Build it with :func:`load_policy` or :func:`policy_from_dict`."""

    version: int = SCHEMA_VERSION  # the document format's version, not the policy's revision
    timezone: TimeZoneName = "UTC"
    business_hours: BusinessHours = BusinessHours()
    scoring: ScoringPolicy = ScoringPolicy()
    sla: SlaPolicy = SlaPolicy()
    reps: tuple[Rep, ...]
    teams: tuple[Team, ...]
    managers: tuple[Manager, ...] = ()
    territories: dict[str, Territory] = {}
    accounts: dict[str, str] = {}  # company domain -> owning rep
    rules: tuple[RoutingRule, ...]
    fallback: Fallback = Fallback()
    pool: PoolPolicy = PoolPolicy()

    @field_validator("version")
    @classmethod
    def _supported(cls, version: int) -> int:
        if version != SCHEMA_VERSION:
            raise ValueError(f"unsupported policy format version {version} (this reads {SCHEMA_VERSION})")
        return version

    @field_validator("accounts", mode="before")
    @classmethod
    def _normalise_domains(cls, accounts: Any) -> Any:
        if not isinstance(accounts, Mapping):
            return accounts
        return {normalise_domain(str(domain)): owner for domain, owner in accounts.items()}

    @model_validator(mode="after")
    def _references_resolve(self) -> Policy:
        _raise_if(_reference_problems(self))
        return self

    # --- lookups (linear scans: rosters are small, and nothing cached can go stale) ---

    @property
    def rep_ids(self) -> tuple[str, ...]:
        return tuple(sorted(rep.id for rep in self.reps))

    def rep(self, rep_id: str) -> Rep:
        """Returns the rep; raises KeyError for an id the policy does not name."""
        for rep in self.reps:
            if rep.id == rep_id:
                return rep
        raise KeyError(f"unknown rep {rep_id!r}")

    def has_rep(self, rep_id: str | None) -> bool:
        return any(rep.id == rep_id for rep in self.reps)

    def team(self, name: str) -> Team:
        """Returns the team; raises KeyError for a name the policy does not name."""
        for team in self.teams:
            if team.name == name:
                return team
        raise KeyError(f"unknown team {name!r}")

    def manager_of(self, rep_id: str) -> str:
        """The manager of the rep's team."""
        return self.team(self.rep(rep_id).team).manager

    def manager(self, manager_id: str) -> Manager | None:
        return next((manager for manager in self.managers if manager.id == manager_id), None)

    def chat_for(self, person_id: str) -> ChatDestination | None:
        """Where to message a rep or a manager, if the policy says."""
        if self.has_rep(person_id):
            return self.rep(person_id).chat
        manager = self.manager(person_id)
        return manager.chat if manager else None

    def timezone_of(self, rep: Rep) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(rep.timezone or self.timezone)

    def hours_of(self, rep: Rep) -> WorkingHours:
        """The rep's own shift, else the business hours (holidays included)."""
        return rep.working_hours or self.business_hours

    def account_owner(self, domain: str | None) -> str | None:
        return self.accounts.get(normalise_domain(domain)) if domain else None

    @classmethod
    def json_schema(cls) -> dict[str, Any]:
        """A JSON Schema of the document, for editors (YAML language servers) and docs."""
        schema = cls.model_json_schema(mode="validation")
        schema["title"] = "Leadrelay routing policy"
        return schema


def normalise_domain(domain: str) -> str:
    """``WWW.Acme.com`` / ``@acme.com`` / ``https://acme.com/`` -> ``acme.com``."""
    text = domain.strip().casefold()
    text = re.sub(r"^[a-z]+://", "", text).split("/")[0].lstrip("@")
    return text.removeprefix("www.")


# --- cross-references --------------------------------------------------------------------------


def _field(section: Any, name: str, default: Any = None) -> Any:
    """A field of a validated section, or of the document as written (a mapping) when its shape
    is wrong; ``default`` when absent, as the model would have it."""
    if isinstance(section, Mapping):
        return section.get(name, default)
    return getattr(section, name, default) if isinstance(section, Section) else default


def _entries(section: Any) -> list[tuple[int, Any]] | None:
    """(index, entry) of a list section; None when it is not a list (nothing to check there)."""
    return list(enumerate(section)) if isinstance(section, (list, tuple)) else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _known(entries: list[tuple[int, Any]] | None, key: str) -> list[str] | None:
    """Every entry's name; None when one cannot be read, since a reference to it cannot be checked."""
    if entries is None:
        return None
    names = [_text(_field(entry, key)) for _, entry in entries]
    return [name for name in names if name is not None] if None not in names else None


def _names(value: Any) -> list[tuple[int, str]]:
    """(position, name) of a Names field; a single string stands for a one-item list, as in the model."""
    value = _as_tuple(value)
    if not isinstance(value, (list, tuple)):
        return []
    return [(position, name) for position, name in enumerate(value) if isinstance(name, str)]


def _reference_problems(policy: Policy | Mapping[str, Any]) -> list[tuple[str, str]]:
    """Names one section uses for another's entries that do not resolve, and duplicates.

    Reads a validated Policy, or the raw document when its shape is wrong, so one pass reports
    both kinds of problem: then every reference that can be read is checked, and a list that
    cannot be read (a missing section, an entry without a readable name) is not checked against.
    """
    reps = _entries(_field(policy, "reps"))
    teams = _entries(_field(policy, "teams"))
    managers = _entries(_field(policy, "managers", ()))
    rules = _entries(_field(policy, "rules"))
    rep_ids, team_names, manager_ids = _known(reps, "id"), _known(teams, "name"), _known(managers, "id")
    problems: list[tuple[str, str]] = []
    for section, entries, key, what in (("reps", reps, "id", "rep id"), ("teams", teams, "name", "team"),
                                        ("managers", managers, "id", "manager id"),
                                        ("rules", rules, "name", "rule name")):
        problems += _duplicates(section, key, [_text(_field(entry, key)) for _, entry in entries or ()], what)

    def unknown(path: str, what: str, name: Any, known: Sequence[str] | None) -> None:
        if isinstance(name, str) and known is not None and name not in known:
            problems.append((path, f"unknown {what} {name!r}{_did_you_mean(name, known)}"))

    # Managers are checked only when the policy lists them; the sketch names them freely.
    people = manager_ids + rep_ids if manager_ids and rep_ids is not None else None
    territories = _field(policy, "territories", {})
    territory_names = sorted(str(name) for name in territories) if isinstance(territories, Mapping) else None
    for index, rep in reps or ():
        unknown(f"reps[{index}].team", "team", _field(rep, "team"), team_names)
        backup = _field(rep, "backup")
        if backup is not None and backup == _field(rep, "id"):
            problems.append((f"reps[{index}].backup", "a rep cannot be their own backup"))
        else:
            unknown(f"reps[{index}].backup", "rep", backup, rep_ids)
        if territory_names:
            for position, territory in _names(_field(rep, "territories")):
                if territory != WILDCARD:
                    unknown(f"reps[{index}].territories[{position}]", "territory", territory, territory_names)
    for index, team in teams or ():
        unknown(f"teams[{index}].manager", "manager", _field(team, "manager"), people)
    for index, rule in rules or ():
        pool = _field(rule, "pool")
        unknown(f"rules[{index}].pool.team", "team", _field(pool, "team"), team_names)
        for position, rep_id in _names(_field(pool, "reps")):
            unknown(f"rules[{index}].pool.reps[{position}]", "rep", rep_id, rep_ids)
    for position, person in _names(_field(_field(policy, "fallback"), "notify")):
        unknown(f"fallback.notify[{position}]", "manager", person, people)
    accounts = _field(policy, "accounts", {})
    for domain, owner in accounts.items() if isinstance(accounts, Mapping) else ():
        unknown(f"accounts.{normalise_domain(str(domain))}", "rep", owner, rep_ids)
    return problems


# --- loading -----------------------------------------------------------------------------------


class _PolicyLoader(yaml.SafeLoader):
    """YAML with the surprises taken out: only ``true``/``false`` are booleans (so the
    country ``NO`` stays Norway), ``18:00`` stays a string (YAML 1.1 would read 1080),
    and a key given twice is an error instead of silently keeping the last."""


_PolicyLoader.yaml_implicit_resolvers = {
    first: [
        (tag, regexp) for tag, regexp in resolvers if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:int")
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_PolicyLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_PolicyLoader.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"^[-+]?(?:0|[1-9][0-9_]*)$"), list("-+0123456789")
)


def _construct_mapping(loader: _PolicyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: dict[Any, yaml.Mark] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (first at line {seen[key].line + 1})", key_node.start_mark
            )
        seen[key] = key_node.start_mark
    return loader.construct_mapping(node, deep=True)


_PolicyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_policy(text: str) -> Policy:
    """Parses a policy from YAML text. Returns the frozen Policy; raises PolicyError listing
    every problem as ``path: message``."""
    try:
        data = yaml.load(text, Loader=_PolicyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise PolicyError([f"{where}{problem}"]) from None
    return policy_from_dict(data)


def policy_from_dict(data: Any) -> Policy:
    """Validates an already-parsed document. Returns the Policy; raises PolicyError."""
    if not isinstance(data, Mapping):
        raise PolicyError(["the policy must be a mapping of sections (version, reps, teams, rules, ...)"])
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        problems = _format_errors(exc)
        if not any(error["type"] == "policy" and not error["loc"] for error in exc.errors(include_url=False)):
            # A shape problem stops pydantic before the model's reference check runs: check the
            # references on the document as written, so one pass lists every problem.
            problems += [f"{path}: {message}" for path, message in _reference_problems(data)]
        raise PolicyError(problems) from None


def _path(location: Sequence[str | int]) -> str:
    path = ""
    for part in location:
        if part == "[key]":  # pydantic's marker for a bad mapping key; the key itself came just before
            continue
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def _join(path: str, sub: str) -> str:
    if not sub:
        return path
    if not path or sub.startswith("["):
        return path + sub
    return f"{path}.{sub}"


_FRIENDLY = {
    "missing": "required",
    "extra_forbidden": "unknown field",
}


def _format_errors(exc: ValidationError) -> list[str]:
    lines = []
    for error in exc.errors(include_url=False):
        path = _path(error["loc"])
        ctx = error.get("ctx") or {}
        if error["type"] == "policy":
            lines += [f"{_join(path, sub) or '(document)'}: {message}" for sub, message in ctx["problems"]]
            continue
        if error["type"] == "value_error":
            message = str(ctx.get("error", error["msg"]))
        else:
            message = _FRIENDLY.get(error["type"], error["msg"])
        lines.append(f"{path or '(document)'}: {message[:1].lower()}{message[1:]}")
    return lines
