"""The people a policy names: reps, teams, managers, their chat destinations, and territories. Pure.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any

from pydantic import (
    Field,
    model_validator,
)

from leadrelay.shared.policy.crm import RepCrm
from leadrelay.shared.policy.hours import WorkingHours
from leadrelay.shared.policy.values import (
    ChatPlatform,
    Identifier,
    Moment,
    Names,
    Section,
    Seniority,
    TimeZoneName,
    problems_error,
)

# --- people ------------------------------------------------------------------------------------


class ChatDestination(Section):
    platform: ChatPlatform
    webhook: str = Field(min_length=1)
    secret: str | None = Field(default=None, repr=False)  # may be "env:NAME", resolved outside
    # The person's own id on the platform: for Slack the member id (U…) that button clicks carry,
    # so a click acts as this rep or manager. Without it their Slack messages carry signed links.
    user_id: str | None = Field(default=None, min_length=1, max_length=100)


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
            raise problems_error([("end", "ends before it starts")])
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
    crm: RepCrm | None = None  # the rep's user ids in the CRMs the policy's ``crm`` section names


class Team(Section):
    name: Identifier
    manager: str
    fallback_queue: str | None = None  # default: the policy's fallback queue


class Manager(Section):
    id: Identifier
    name: str | None = None
    languages: Names = ()  # the first decides the language of their messages: zh…, else English
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
            raise problems_error([("", "a territory needs countries, regions or cities")])
        return self

    def contains(self, facts: Mapping[str, Any]) -> bool:
        dimensions = (("country", self.countries), ("region", self.regions), ("city", self.cities))
        return all(
            _folded(facts.get(fact)) in {_folded(value) for value in values} for fact, values in dimensions if values
        )


def _folded(value: Any) -> str:
    return str(value).strip().casefold() if value is not None else ""


