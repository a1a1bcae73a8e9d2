"""Reports over what the router stored, as use cases: the funnel. The HTTP route, the command line
and the web console call these; they take the ports they use, never a request."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from leadrelay.services.router.funnel import GROUP_KEYS, FunnelRow, GroupKey, funnel
from leadrelay.services.router.work import in_managers_reach
from leadrelay.shared.clock import Clock
from leadrelay.shared.policy import Policy
from leadrelay.shared.ports import LeadJourney, Store
from leadrelay.shared.problems import Forbidden, InvalidField
from leadrelay.shared.security import Principal

# With no ``since``, the report covers this long before ``until``.
DEFAULT_PERIOD = timedelta(days=30)


class FunnelReportRow(BaseModel):
    """One group's funnel (docs/reports.md describes each column)."""

    model_config = ConfigDict(frozen=True)

    group: dict[str, str | int | None] = Field(
        description="The value of each `by` key for this row (empty: the overall row). null: leads with none "
                    "(no rep, no rule, …).", examples=[{"source": "web", "rep": "rep-a"}])
    received: int = Field(description="Leads received in the period.")
    assigned: int = Field(description="Of those, ever given to a rep.")
    accepted: int = Field(description="Accepted, contacted or converted by a rep.")
    contacted: int = Field(description="Contacted or converted by a rep.")
    converted: int = Field(description="Closed as converted.")
    lost: int = Field(description="Closed as lost.")
    first_touch_p50_seconds: float | None = Field(
        description="Median time from first assignment to the first accept or contact (nearest rank); "
                    "null when none was touched.")
    first_touch_p90_seconds: float | None = Field(description="90th percentile of the same (nearest rank).")
    sla_clocks: int = Field(description="Leads a first-touch SLA clock was planned for.")
    sla_breached: int = Field(description="Of those, leads whose first-touch clock breached (escalated).")
    sla_compliance: float | None = Field(description="(sla_clocks - sla_breached) / sla_clocks; null without clocks.")
    conversion_rate: float | None = Field(description="converted / received.")

    @classmethod
    def of(cls, row: FunnelRow) -> FunnelReportRow:
        return cls(group=dict(row.group), received=row.received, assigned=row.assigned, accepted=row.accepted,
                   contacted=row.contacted, converted=row.converted, lost=row.lost,
                   first_touch_p50_seconds=seconds(row.first_touch_p50),
                   first_touch_p90_seconds=seconds(row.first_touch_p90), sla_clocks=row.sla_clocks,
                   sla_breached=row.sla_breached, sla_compliance=row.sla_compliance,
                   conversion_rate=row.conversion_rate)

    def flat(self) -> dict[str, Any]:
        """The row as one flat record: the group's keys, then the figures (a CSV line, a table row)."""
        return {**self.group, **self.model_dump(exclude={"group"})}


class FunnelReport(BaseModel):
    """The funnel of the leads received in ``[since, until)`` that the caller may see."""

    model_config = ConfigDict(frozen=True)

    since: datetime = Field(description="The period's start (UTC), included.")
    until: datetime = Field(description="The period's end (UTC), excluded.")
    by: list[GroupKey] = Field(description="What the rows are grouped by, in order; empty: one overall row.")
    rows: list[FunnelReportRow]


def seconds(value: timedelta | None) -> float | None:
    return None if value is None else value.total_seconds()


_INSTANT = TypeAdapter(datetime)


def parse_instant(text: str, field: str) -> datetime:
    """A date (``2026-05-01``, midnight UTC) or a date and time (an ISO 8601 instant; without an
    offset, UTC) typed by a person; raises InvalidField naming ``field`` otherwise."""
    try:
        return _INSTANT.validate_python(text.strip())
    except ValidationError:
        raise InvalidField(f"{field} must be a date (2026-05-01) or an ISO 8601 date and time.",
                           errors=[{"field": field, "reason": "not a date or date and time"}]) from None


def as_instant(value: datetime, field: str) -> datetime:
    """``value`` in UTC (a naive one is taken as UTC); InvalidField naming ``field`` when UTC cannot hold it."""
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        raise InvalidField(f"{field} is out of range.", errors=[{"field": field, "reason": "out of range"}]) from None


def period(now: datetime, since: datetime | None, until: datetime | None) -> tuple[datetime, datetime]:
    """The ``[since, until)`` a report covers: ``until`` defaults to ``now``, ``since`` to
    ``DEFAULT_PERIOD`` before ``until``. Raises InvalidField naming the field at fault."""
    end = as_instant(until, "until") if until is not None else now
    if since is not None:
        start = as_instant(since, "since")
    else:
        try:
            start = end - DEFAULT_PERIOD
        except OverflowError:
            raise InvalidField("until is too early for the default period; give since too.",
                               errors=[{"field": "until", "reason": "out of range"}]) from None
    if start >= end:
        raise InvalidField("since must be before until.", errors=[{"field": "since", "reason": "not before until"}])
    return start, end


def group_keys(by: Sequence[str]) -> list[GroupKey]:
    """The ``by`` keys, each once, in order; InvalidField naming ``by`` for one we do not group by."""
    if unknown := [key for key in by if key not in GROUP_KEYS]:
        raise InvalidField(f"Cannot group by {unknown[0]!r}; use {', '.join(GROUP_KEYS)}.",
                           errors=[{"field": "by", "reason": f"expected one of {', '.join(GROUP_KEYS)}"}])
    return list(dict.fromkeys(by))  # type: ignore[arg-type]  # checked against GROUP_KEYS above


def require_report_reader(principal: Principal | None) -> None:
    if principal is not None and principal.role not in ("admin", "manager"):
        raise Forbidden("Reports are for managers and admins.",
                        errors=[{"field": "Authorization", "reason": f"role {principal.role} not allowed"}])


async def funnel_report(store: Store, clock: Clock, since: datetime | None = None, until: datetime | None = None,
                        by: Sequence[str] = (), *, principal: Principal | None = None) -> FunnelReport:
    """The funnel of the leads received in ``[since, until)``, grouped by ``by`` (some of
    ``source``, ``rep``, ``team``, ``grade``, ``rule``, ``policy_version``; none: one overall row).

    ``until`` defaults to ``clock()``, ``since`` to 30 days before ``until``; a naive datetime is
    taken as UTC. ``principal`` is who asks: None (the command line, on the operator's own
    database) or an admin sees every lead; a manager only the leads in their reach (their teams',
    as on a lead's page); a rep or a source is refused (Forbidden). Raises InvalidField naming
    ``since``, ``until`` or ``by`` when one is wrong.

    Returns the period as used (UTC), the keys (each once) and one ``FunnelReportRow`` per group,
    ordered by the group's values (a missing value last); ``row.flat()`` gives a table or CSV line.
    The figures are described in ``services/router/funnel.py`` and docs/reports.md."""
    require_report_reader(principal)
    keys = group_keys(by)
    start, end = period(clock(), since, until)
    async with store.read() as uow:
        leads = await uow.reports.funnel_leads(start, end)
        if principal is not None and principal.role == "manager":
            current = await uow.policies.current()
            leads = [lead for lead in leads if current is not None and manages(current[1], principal, lead)]
    return FunnelReport(since=start, until=end, by=keys, rows=[FunnelReportRow.of(row) for row in funnel(leads, keys)])


def manages(policy: Policy, principal: Principal, lead: LeadJourney) -> bool:
    # The reach a lead's page has (work.in_managers_reach), which reads only a lead's owner,
    # team and queue: a journey carries all three.
    return in_managers_reach(policy, principal.rep_id, lead)  # type: ignore[arg-type]
