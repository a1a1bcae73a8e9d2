"""``ReportRepository`` (``shared/ports/reports.py``): what the funnel reads of a period's leads."""

from __future__ import annotations

from leadrelay.shared.ports import LeadJourney, Milestone, Store
from tests.contract.store.values import assert_aware_utc, at, new_lead


async def seed(store: Store) -> None:
    async with store.transaction() as uow:
        # Received before, at the start of, inside, at the end of and after the period [at(0), at(60)).
        for lead_id, minute in (("early", -1), ("first", 0), ("second", 30), ("tied", 30), ("end", 60)):
            await uow.leads.insert(**new_lead(lead_id, received_at=at(minute)))
        await uow.leads.update("first", state="lost", owner=None, previous_owner="rep-a", team="enterprise",
                               queue="pool", policy_version=4)
        await uow.leads.update("second", state="contacted", owner="rep-b", team="smb")
        # Routed by "hot" then reassigned (its decisions); every kind of history, the report's and others.
        await uow.leads.add_decision("first", at(1), 4, "hot", "least_loaded", "rep-a", None, {})
        await uow.leads.add_decision("first", at(9), 4, "reassigned", "reassigned", "rep-b", None, {})
        await uow.leads.add_decision("tied", at(31), 4, None, "fallback", None, "unassigned", {})
        await uow.leads.add_history_many([
            {"lead_id": "first", "at": at(1), "kind": "assigned", "detail": {"rule": "hot"}},
            {"lead_id": "first", "at": at(2), "kind": "notified", "detail": {}},
            {"lead_id": "first", "at": at(3), "kind": "sla_breached", "detail": {"clock": "first_touch"}},
            {"lead_id": "first", "at": at(4), "kind": "accepted", "detail": {}},
            {"lead_id": "first", "at": at(9), "kind": "reassigned", "detail": {}},
            {"lead_id": "first", "at": at(10), "kind": "claimed", "detail": {}},
            {"lead_id": "first", "at": at(11), "kind": "lost", "detail": {"reason": "spam"}},
            {"lead_id": "second", "at": at(31), "kind": "offered", "detail": {}},
            {"lead_id": "second", "at": at(33), "kind": "contacted", "detail": {}},
            {"lead_id": "second", "at": at(34), "kind": "converted", "detail": {}},
            {"lead_id": "early", "at": at(5), "kind": "assigned", "detail": {}},
        ])
        # Written out of time order: the milestones come back in the order they were written.
        await uow.leads.add_history("second", "accepted", {}, at=at(32))
        await uow.clocks.add_many([
            {"timer_id": f"{lead}:{gen}:{clock}:{step}", "lead_id": lead, "clock": clock, "step": step,
             "owner": "rep-a", "due_at": at(minute)}
            for lead, gen, clock, step, minute in (
                ("first", 0, "first_touch", "remind", 2), ("first", 0, "first_touch", "escalate", 3),
                ("first", 1, "first_touch", "escalate", 20),
                ("second", 0, "first_touch", "escalate", 45), ("second", 0, "handoff", "escalate", 40),
                ("tied", 0, "handoff", "escalate", 40), ("tied", 0, "offer", "offer_expired", 35))])
        # first: its first generation breached; second: its handoff clock escalated, and its
        # first-touch escalate went stale (the lead had moved on), neither a first-touch breach.
        await uow.clocks.mark(["first:0:first_touch:remind", "first:0:first_touch:escalate",
                               "second:0:handoff:escalate"], "fired", at(3))
        await uow.clocks.mark(["second:0:first_touch:escalate"], "stale", at(45))
        await uow.clocks.cancel("first")


async def test_the_period_s_leads_come_with_their_milestones_rule_and_first_touch_facts(store: Store):
    await seed(store)
    async with store.read() as uow:
        journeys = await uow.reports.funnel_leads(at(0), at(60))
    lead = new_lead("x")
    common = {"source": "web", "grade": lead["grade"]}
    assert journeys == [
        LeadJourney(lead_id="first", received_at=at(0), owner=None, previous_owner="rep-a", team="enterprise",
                    queue="pool", policy_version=4, rule="hot",
                    milestones=(Milestone("assigned", at(1)), Milestone("accepted", at(4)),
                                Milestone("reassigned", at(9)), Milestone("claimed", at(10)),
                                Milestone("lost", at(11))),
                    first_touch_clock=True, first_touch_breached=True, **common),
        LeadJourney(lead_id="second", received_at=at(30), owner="rep-b", previous_owner=None, team="smb",
                    queue=None, policy_version=1, rule=None,
                    milestones=(Milestone("offered", at(31)), Milestone("contacted", at(33)),
                                Milestone("converted", at(34)), Milestone("accepted", at(32))),
                    first_touch_clock=True, first_touch_breached=False, **common),
        LeadJourney(lead_id="tied", received_at=at(30), owner=None, previous_owner=None, team=None, queue=None,
                    policy_version=1, rule=None, milestones=(), first_touch_clock=False,
                    first_touch_breached=False, **common),
    ]
    for journey in journeys:
        assert_aware_utc(journey)
        for milestone in journey.milestones:
            assert_aware_utc(milestone)


async def test_an_empty_period_has_no_leads(store: Store):
    await seed(store)
    async with store.read() as uow:
        assert await uow.reports.funnel_leads(at(1), at(30)) == []
        assert [j.lead_id for j in await uow.reports.funnel_leads(at(-60), at(61))] == [
            "early", "first", "second", "tied", "end"]
