"""Routing invariants, checked over generated rosters, loads, clocks and lead streams."""

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from leadrelay.services.router.routing import RepLoad, RosterState, RoutingLead, decide_route
from leadrelay.shared.policy import Policy, policy_from_dict

ZONES = ("Asia/Shanghai", "Asia/Tokyo", "Europe/London", "America/New_York")
ALWAYS = {"days": ["mon-sun"], "start": "00:00", "end": "24:00"}
OFFICE = {"days": ["mon-fri"], "start": "09:00", "end": "18:00"}
PICKERS = ("round_robin", "weighted_round_robin", "least_loaded", "performance_weighted")

# Enough examples to find the corner cases (everyone away, one cap left, a weekend in Tokyo)
# while keeping the unit suite within seconds.
fast = settings(max_examples=60, deadline=None)
streams = settings(max_examples=40, deadline=None)


@dataclass(frozen=True)
class RepSpec:
    """A generated rep, with the facts an independent oracle needs to judge availability."""

    rep_id: str
    zone: str
    office_hours: bool
    paused: bool
    away_now: bool
    open_cap: int | None
    daily_cap: int | None
    load: RepLoad
    weight: int
    backup: str | None

    def document(self, now: datetime) -> dict[str, Any]:
        today = now.astimezone(ZoneInfo(self.zone)).date()
        days = (-1, 1) if self.away_now else (-10, -3)  # around today, or well in the past
        away = [today + timedelta(days=offset) for offset in days]
        return {
            "id": self.rep_id,
            "team": "sales",
            "timezone": self.zone,
            "working_hours": OFFICE if self.office_hours else ALWAYS,
            "paused": self.paused,
            "out_of_office": [{"start": away[0], "end": away[1]}],
            "capacity": {"open": self.open_cap, "per_day": self.daily_cap},
            "weight": self.weight,
            "backup": self.backup,
        }

    def can_take_a_lead(self, now: datetime) -> bool:
        """The oracle, written separately from the router: shift, absence, pause and caps."""
        local = now.astimezone(ZoneInfo(self.zone))
        on_shift = not self.office_hours or (local.weekday() < 5 and 9 <= local.hour < 18)
        under_caps = (self.open_cap is None or self.load.open < self.open_cap) and (
            self.daily_cap is None or self.load.assigned_today < self.daily_cap
        )
        return on_shift and not self.paused and not self.away_now and under_caps


caps = st.one_of(st.none(), st.integers(0, 5))
moments = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC))


@st.composite
def rosters(draw: st.DrawFn) -> list[RepSpec]:
    count = draw(st.integers(1, 6))
    ids = [f"rep-{index}" for index in range(count)]
    return [
        RepSpec(
            rep_id=rep_id,
            zone=draw(st.sampled_from(ZONES)),
            office_hours=draw(st.booleans()),
            paused=draw(st.booleans()),
            away_now=draw(st.booleans()),
            open_cap=draw(caps),
            daily_cap=draw(caps),
            load=RepLoad(
                open=draw(st.integers(0, 6)),
                assigned_today=draw(st.integers(0, 6)),
                conversion_rate=draw(st.one_of(st.none(), st.floats(0, 1))),
            ),
            weight=draw(st.integers(1, 4)),
            backup=draw(st.one_of(st.none(), st.sampled_from(ids))),
        )
        for rep_id in ids
    ]


def build(reps: list[RepSpec], now: datetime, strategy: str) -> Policy:
    documents = [spec.document(now) for spec in reps]
    for document in documents:
        if document["backup"] == document["id"]:
            document["backup"] = None
    return policy_from_dict(
        {
            "timezone": "Asia/Shanghai",
            "teams": [{"name": "sales", "manager": "mgr"}],
            "reps": documents,
            "rules": [{"name": "everyone", "strategy": strategy}],
        }
    )


@fast
@given(
    reps=rosters(),
    now=moments,
    strategy=st.sampled_from(PICKERS),
    cursor=st.integers(0, 1000),
    credits=st.dictionaries(st.sampled_from([f"rep-{i}" for i in range(6)]), st.integers(-2, 3)),
)
def test_a_lead_goes_to_an_available_rep_whenever_one_matches_and_never_to_anyone_else(
    reps: list[RepSpec], now: datetime, strategy: str, cursor: int, credits: dict[str, int]
) -> None:
    roster = RosterState(loads={spec.rep_id: spec.load for spec in reps}, cursors={"everyone": cursor}, credits=credits)
    decision = decide_route(RoutingLead("lead", {}), build(reps, now, strategy), roster, now)

    available = {spec.rep_id for spec in reps if spec.can_take_a_lead(now)}
    if available:
        assert decision.owner in available
    else:
        assert decision.owner is None
        assert decision.queue is not None
    kept = {verdict.rep for verdict in decision.candidates if verdict.kept}
    assert kept == available


@streams
@given(size=st.integers(1, 8), leads=st.integers(0, 50), start=st.integers(0, 10_000))
def test_round_robin_over_equal_reps_keeps_everyone_within_one_lead_of_each_other(
    size: int, leads: int, start: int
) -> None:
    reps = [{"id": f"rep-{index}", "team": "sales", "working_hours": ALWAYS} for index in range(size)]
    policy = policy_from_dict({"teams": [{"name": "sales", "manager": "m"}], "reps": reps, "rules": [{"name": "rr"}]})
    cursors = {"rr": start}
    counts = Counter({rep["id"]: 0 for rep in reps})
    for number in range(1, leads + 1):
        decision = decide_route(
            RoutingLead(f"lead-{number}", {}), policy, RosterState(cursors=cursors), datetime.now(UTC)
        )
        cursors.update(decision.cursor_updates)
        counts[decision.owner] += 1
        assert max(counts.values()) - min(counts.values()) <= 1
        if number % size == 0:
            assert set(counts.values()) == {number // size}


@streams
@given(weights=st.lists(st.integers(1, 5), min_size=1, max_size=5), cycles=st.integers(1, 3), start=st.integers(0, 500))
def test_weighted_round_robin_gives_each_rep_their_weight_every_cycle(
    weights: list[int], cycles: int, start: int
) -> None:
    reps = [{"id": f"rep-{i}", "team": "sales", "working_hours": ALWAYS, "weight": w} for i, w in enumerate(weights)]
    rules = [{"name": "wrr", "strategy": "weighted_round_robin"}]
    policy = policy_from_dict({"teams": [{"name": "sales", "manager": "m"}], "reps": reps, "rules": rules})
    cursors = {"wrr": start}
    counts = Counter[str]()
    for _ in range(sum(weights) * cycles):
        decision = decide_route(RoutingLead("lead", {}), policy, RosterState(cursors=cursors), datetime.now(UTC))
        cursors.update(decision.cursor_updates)
        counts[decision.owner] += 1
    assert counts == {f"rep-{i}": w * cycles for i, w in enumerate(weights)}


@streams
@given(stream=st.lists(st.sampled_from(["east", "west"]), max_size=40))
def test_each_territory_stays_fair_however_leads_of_other_territories_interleave(stream: list[str]) -> None:
    reps = [
        {"id": rep_id, "team": "sales", "working_hours": ALWAYS, "territories": [territory]}
        for rep_id, territory in (("a", "east"), ("b", "west"), ("c", "east"), ("d", "west"), ("e", "east"))
    ]
    policy = policy_from_dict(
        {
            "teams": [{"name": "sales", "manager": "m"}],
            "territories": {"east": {"regions": ["Shanghai"]}, "west": {"regions": ["Sichuan"]}},
            "reps": reps,
            "rules": [{"name": "local", "strategy": "territory"}],
        }
    )
    region = {"east": "Shanghai", "west": "Sichuan"}
    cursors: dict[str, int] = {}
    counts = Counter({rep["id"]: 0 for rep in reps})
    for territory in stream:
        decision = decide_route(
            RoutingLead("lead", {"region": region[territory]}), policy, RosterState(cursors=cursors), datetime.now(UTC)
        )
        cursors.update(decision.cursor_updates)
        counts[decision.owner] += 1
    for members in (("a", "c", "e"), ("b", "d")):
        shares = [counts[rep_id] for rep_id in members]
        assert max(shares) - min(shares) <= 1


@fast
@given(
    reps=rosters(),
    now=moments,
    strategy=st.sampled_from(PICKERS),
    cursor=st.integers(0, 1000),
    data=st.data(),
)
def test_the_same_inputs_give_the_same_decision_whatever_order_they_come_in(
    reps: list[RepSpec], now: datetime, strategy: str, cursor: int, data: st.DataObject
) -> None:
    shuffled = data.draw(st.permutations(reps))
    facts = {"grade": data.draw(st.sampled_from(["hot", "warm", "cold"])), "country": "CN"}
    loads = {spec.rep_id: spec.load for spec in reps}

    def decide(order: list[RepSpec], load_order: list[str]) -> object:
        roster = RosterState(loads={rep_id: loads[rep_id] for rep_id in load_order}, cursors={"everyone": cursor})
        return decide_route(RoutingLead("lead", facts), build(order, now, strategy), roster, now)

    first = decide(reps, sorted(loads))
    assert decide(reps, sorted(loads)) == first
    assert decide(shuffled, sorted(loads, reverse=True)) == first
