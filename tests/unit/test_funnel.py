"""The pure funnel (``services/router/funnel.py``): which stage a lead reaches, its first touch,
the percentiles, the grouping, and the guarantees every report keeps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leadrelay.services.router.funnel import GROUP_KEYS, funnel, nearest_rank, stages_of
from leadrelay.shared.ports import LeadJourney, Milestone
from leadrelay.shared.ports.reports import FUNNEL_MILESTONES

T = datetime(2030, 6, 3, 9, 0, tzinfo=UTC)


def minutes(n: float) -> datetime:
    return T + timedelta(minutes=n)


def journey(*steps: tuple[str, float], lead_id: str = "lead", source: str = "web", owner: str | None = "rep-a",
            previous_owner: str | None = None, team: str | None = "smb", grade: str | None = "warm",
            rule: str | None = "r", policy_version: int | None = 1, clock: bool = True,
            breached: bool = False) -> LeadJourney:
    return LeadJourney(lead_id=lead_id, source=source, received_at=T, grade=grade, owner=owner,
                       previous_owner=previous_owner, team=team, queue=None, policy_version=policy_version, rule=rule,
                       milestones=tuple(Milestone(kind, minutes(at)) for kind, at in steps),
                       first_touch_clock=clock, first_touch_breached=breached)


def test_a_lead_reaches_the_deepest_stage_its_history_shows():
    assert stages_of(journey()).depth == 0
    assert stages_of(journey(("assigned", 0))).depth == 1
    assert stages_of(journey(("claimed", 0), ("accepted", 3))).depth == 2
    assert stages_of(journey(("offered", 0), ("contacted", 3))).depth == 3  # a contact is an acceptance
    # A conversion recorded straight after the assignment still counts as accepted and contacted.
    converted = stages_of(journey(("assigned", 0), ("converted", 9)))
    assert (converted.depth, converted.outcome, converted.first_touch) == (3, "converted", None)
    # A lead lost without a touch keeps the stage it reached.
    lost = stages_of(journey(("assigned", 0), ("lost", 9)))
    assert (lost.depth, lost.outcome) == (1, "lost")


def test_the_first_touch_counts_from_the_first_assignment_to_the_first_accept_or_contact():
    # Reassigned at 20 after nobody touched it; the backup accepted at 25: 25 minutes of waiting.
    assert stages_of(journey(("assigned", 0), ("reassigned", 20), ("accepted", 25), ("contacted", 40))
                     ).first_touch == timedelta(minutes=25)
    # Queued first, then claimed from the pool at 60 and contacted at 62.
    assert stages_of(journey(("claimed", 60), ("contacted", 62))).first_touch == timedelta(minutes=2)
    assert stages_of(journey(("assigned", 0), ("lost", 5))).first_touch is None


def test_nearest_rank_picks_one_actual_value():
    waits = [timedelta(seconds=s) for s in (40, 10, 30, 20)]
    # Four values: p50 is the ceil(0.5·4) = 2nd smallest, p90 the ceil(0.9·4) = 4th.
    assert nearest_rank(waits, 0.5) == timedelta(seconds=20)
    assert nearest_rank(waits, 0.9) == timedelta(seconds=40)
    assert nearest_rank(waits[:1], 0.5) == nearest_rank(waits[:1], 0.9) == timedelta(seconds=40)
    assert nearest_rank([], 0.5) is None
    # Ten values 1..10: p90 is the 9th.
    assert nearest_rank([timedelta(seconds=s) for s in range(10, 0, -1)], 0.9) == timedelta(seconds=9)


def test_a_small_funnel_by_rep_hand_computed():
    leads = [
        journey(("assigned", 0), ("accepted", 4), ("contacted", 6), ("converted", 30), lead_id="1"),
        journey(("assigned", 0), ("contacted", 10), ("lost", 30), lead_id="2", breached=True),
        journey(("assigned", 0), lead_id="3", owner="rep-b"),
        journey(lead_id="4", owner=None, team=None, rule=None, clock=False),
        # Recycled to the pool: no owner now, still rep-a's in the report.
        journey(("assigned", 0), lead_id="5", owner=None, previous_owner="rep-a", breached=True),
    ]
    rows = funnel(leads, ["rep"])
    assert [row.group for row in rows] == [(("rep", "rep-a"),), (("rep", "rep-b"),), (("rep", None),)]
    rep_a = rows[0]
    # 1, 2 and 5: all assigned; 1 and 2 accepted and contacted; 1 converted, 2 lost; touches at
    # 4 and 10 minutes; three clocks, two breached.
    assert (rep_a.received, rep_a.assigned, rep_a.accepted, rep_a.contacted, rep_a.converted, rep_a.lost) == (
        3, 3, 2, 2, 1, 1)
    assert (rep_a.first_touch_p50, rep_a.first_touch_p90) == (timedelta(minutes=4), timedelta(minutes=10))
    assert (rep_a.sla_clocks, rep_a.sla_breached, rep_a.sla_compliance, rep_a.conversion_rate) == (3, 2, 1 / 3, 1 / 3)
    nobody = rows[2]
    assert (nobody.received, nobody.assigned, nobody.sla_compliance, nobody.first_touch_p50) == (1, 0, None, None)


def test_no_leads_give_one_empty_overall_row_and_no_groups():
    [overall] = funnel([])
    assert (overall.group, overall.received, overall.conversion_rate, overall.sla_compliance) == ((), 0, None, None)
    assert funnel([], ["source"]) == []


def test_groups_follow_the_keys_asked_each_once_none_last():
    leads = [journey(lead_id="1", source="web", policy_version=2), journey(lead_id="2", source="expo"),
             journey(lead_id="3", source="web", policy_version=None), journey(lead_id="4", source="web")]
    assert [row.group for row in funnel(leads, ["source", "policy_version", "source"])] == [
        (("source", "expo"), ("policy_version", 1)), (("source", "web"), ("policy_version", 1)),
        (("source", "web"), ("policy_version", 2)), (("source", "web"), ("policy_version", None))]
    with pytest.raises(ValueError, match="owner"):
        funnel(leads, ["owner"])  # type: ignore[list-item]


# -- the guarantees, on any history ------------------------------------------------------------------

any_journey = st.builds(
    lambda steps, **values: journey(*steps, **values),
    st.lists(st.tuples(st.sampled_from(FUNNEL_MILESTONES), st.floats(0, 10_000)), max_size=8),
    source=st.sampled_from(["web", "expo"]), owner=st.sampled_from(["rep-a", "rep-b", None]),
    previous_owner=st.sampled_from(["rep-a", None]), team=st.sampled_from(["smb", None]),
    grade=st.sampled_from(["hot", "cold", None]), rule=st.sampled_from(["r1", None]),
    policy_version=st.sampled_from([1, 2, None]), clock=st.booleans(), breached=st.booleans(),
)


@given(st.lists(any_journey, max_size=30), st.lists(st.sampled_from(GROUP_KEYS), max_size=3))
def test_counts_only_fall_down_the_funnel_and_the_groups_add_up_to_the_whole(leads, by):
    rows = funnel(leads, by)
    for row in rows:
        assert row.received >= row.assigned >= row.accepted >= row.contacted >= row.converted >= 0
        assert row.converted + row.lost <= row.assigned
        assert row.sla_breached <= row.sla_clocks <= row.received
        if row.first_touch_p50 is not None:
            assert timedelta(0) <= row.first_touch_p50 <= row.first_touch_p90  # type: ignore[operator]
    [overall] = funnel(leads)
    for figure in ("received", "assigned", "accepted", "contacted", "converted", "lost", "sla_clocks",
                   "sla_breached"):
        assert sum(getattr(row, figure) for row in rows) == getattr(overall, figure), figure
    assert overall.received == len(leads)  # each lead counted once
