"""The reports' HTTP routes: ``GET /v1/reports/funnel``. Thin: the use case (``reports``) checks
who asks and what was asked."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BeforeValidator, WithJsonSchema

from leadrelay.services.router.funnel import GroupKey
from leadrelay.services.router.reports import FunnelReport, funnel_report, require_report_reader
from leadrelay.shared.web.deps import ClockDep, PrincipalDep, StoreDep

# What the period's bounds take: a date, or an RFC 3339 date and time (the formats the document
# declares). Without this check pydantic would also read "0.5" as a Unix time.
RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}([Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2}))?")


def date_or_date_time(value: Any) -> Any:
    if not isinstance(value, str) or not RFC3339.fullmatch(value):
        raise ValueError("expected a date (2026-05-01) or an RFC 3339 date and time (2026-05-01T08:00:00Z)")
    return value


Instant = Annotated[datetime, BeforeValidator(date_or_date_time), WithJsonSchema(
    {"anyOf": [{"type": "string", "format": "date"}, {"type": "string", "format": "date-time"}]})]


def reports_router() -> APIRouter:
    router = APIRouter(tags=["reports"])

    @router.get("/v1/reports/funnel", response_model=FunnelReport)
    async def read_funnel(
        store: StoreDep, clock: ClockDep, principal: PrincipalDep,
        since: Annotated[Instant | None, Query(
            description="The period's start, included: a date (midnight UTC) or an RFC 3339 date and time "
                        "(2026-05-01T08:00:00+08:00). Default: 30 days before `until`.")] = None,
        until: Annotated[Instant | None, Query(
            description="The period's end, excluded. Default: now.")] = None,
        by: Annotated[list[GroupKey] | None, Query(
            description="Group the rows by these, in order (repeat the parameter). None: one overall row.")] = None,
    ) -> FunnelReport:
        """The funnel of the leads received in a period: received, assigned, accepted, contacted,
        converted, lost; time to first touch (p50, p90), first-touch SLA compliance and conversion,
        by source, rep, team, grade, rule or policy version (admins: every lead; managers: their teams')."""
        require_report_reader(principal)  # a rep or a source hears 403 whatever the period
        return await funnel_report(store, clock, since, until, by or (), principal=principal)

    return router
