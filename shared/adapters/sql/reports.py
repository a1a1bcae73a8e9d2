"""Reads for reports, in SQL: four queries for a period's leads, however many there are."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlalchemy import and_, case, func, select

from leadrelay.shared.adapters.sql import schema as t
from leadrelay.shared.adapters.sql.transaction import SqlTransaction
from leadrelay.shared.clock import as_utc
from leadrelay.shared.ports.records import LeadJourney, Milestone
from leadrelay.shared.ports.reports import FUNNEL_MILESTONES


class SqlReports:
    def __init__(self, tx: SqlTransaction) -> None:
        self.tx = tx

    async def funnel_leads(self, since: datetime, until: datetime) -> list[LeadJourney]:
        leads = t.leads.c
        in_period = and_(leads.received_at >= since, leads.received_at < until)
        # The period's lead ids, as a subquery each of the other three reads filter on.
        period_ids = select(leads.lead_id).where(in_period).scalar_subquery()
        conn = self.tx.conn

        history = t.lead_history.c
        milestones: dict[str, list[Milestone]] = defaultdict(list)
        for row in await conn.execute(
                select(history.lead_id, history.kind, history.at)
                .where(history.lead_id.in_(period_ids), history.kind.in_(FUNNEL_MILESTONES))
                .order_by(history.id)):
            milestones[row.lead_id].append(Milestone(row.kind, as_utc(row.at)))  # type: ignore[arg-type]

        decisions = t.decisions.c
        first_decisions = (select(func.min(decisions.id)).where(decisions.lead_id.in_(period_ids))
                           .group_by(decisions.lead_id).scalar_subquery())
        rules = {row.lead_id: row.rule for row in await conn.execute(
            select(decisions.lead_id, decisions.rule).where(decisions.id.in_(first_decisions)))}

        clocks = t.sla_clocks.c
        breached = func.max(case((and_(clocks.step == "escalate", clocks.state == "fired"), 1), else_=0))
        first_touch = {row.lead_id: bool(row.breached) for row in await conn.execute(
            select(clocks.lead_id, breached.label("breached"))
            .where(clocks.lead_id.in_(period_ids), clocks.clock == "first_touch")
            .group_by(clocks.lead_id))}

        query = (select(leads.lead_id, leads.source, leads.received_at, leads.grade, leads.owner, leads.previous_owner,
                        leads.team, leads.queue, leads.policy_version)
                 .where(in_period).order_by(leads.received_at, leads.lead_id))
        return [LeadJourney(
            lead_id=row.lead_id, source=row.source, received_at=as_utc(row.received_at),  # type: ignore[arg-type]
            grade=row.grade, owner=row.owner, previous_owner=row.previous_owner, team=row.team, queue=row.queue,
            policy_version=row.policy_version, rule=rules.get(row.lead_id),
            milestones=tuple(milestones.get(row.lead_id, ())), first_touch_clock=row.lead_id in first_touch,
            first_touch_breached=first_touch.get(row.lead_id, False),
        ) for row in await conn.execute(query)]
