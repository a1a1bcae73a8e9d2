"""The policy's SLA section turned into dated clock steps for one assignment (pure).

On the business-hours clock a target of whole days means business days: ``handoff: 24h`` is
one business day and ``recycle_unworked_after: 7d`` is seven, not 24 or 168 open hours (which
would be almost three and nineteen working days). Other targets are hours of open time.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from leadrelay.services.router.availability import business_calendar
from leadrelay.services.router.business_hours import BusinessCalendar
from leadrelay.services.router.sla import RECYCLE_STEP, ClockStep, plan_clock
from leadrelay.shared.policy import Policy, Rep

DAY = timedelta(days=1)


def owner_calendar(policy: Policy, rep: Rep | None) -> BusinessCalendar | None:
    """The business calendar in the owner's own time zone, or None on the wall clock."""
    if policy.sla.clock != "business_hours":
        return None
    tz = policy.timezone_of(rep).key if rep is not None else policy.timezone
    return business_calendar(policy.business_hours, tz)


def as_target(duration: timedelta, calendar: BusinessCalendar | None) -> timedelta:
    if calendar is not None and duration >= DAY and duration % DAY == timedelta(0):
        return (duration // DAY) * calendar.day_length
    return duration


def clock_steps(policy: Policy, owner: Rep | None, grade: str, assigned_at: datetime) -> list[ClockStep]:
    """Every step of every clock an assignment starts, in due order."""
    sla = policy.sla
    calendar = owner_calendar(policy, owner)
    ladder = dict(sla.ladder.steps())
    plans = []
    if sla.handoff is not None:
        plans.append(plan_clock("handoff", assigned_at, as_target(sla.handoff, calendar), ladder, calendar))
    if (first_touch := sla.first_touch_for(grade)) is not None:  # type: ignore[arg-type]
        plans.append(plan_clock("first_touch", assigned_at, as_target(first_touch, calendar), ladder, calendar))
    if sla.recycle_unworked_after is not None:
        plans.append(plan_clock("recycle", assigned_at, as_target(sla.recycle_unworked_after, calendar),
                                {RECYCLE_STEP: 1.0}, calendar))
    return sorted((step for plan in plans for step in plan.steps), key=lambda s: s.due_at)


def first_touch_deadline(policy: Policy, owner: Rep | None, grade: str,
                         assigned_at: datetime) -> tuple[datetime, timedelta] | None:
    """When the owner must first contact a lead assigned at ``assigned_at`` (UTC), and the target
    it comes from; None when the grade has no first-touch clock. The same arithmetic as the
    clock's steps (the 100% mark of the first-touch clock), so the rep's message and the ladder agree."""
    target = policy.sla.first_touch_for(grade)  # type: ignore[arg-type]
    if target is None:
        return None
    calendar = owner_calendar(policy, owner)
    plan = plan_clock("first_touch", assigned_at, as_target(target, calendar), {"deadline": 1.0}, calendar)
    return plan.steps[0].due_at, target
