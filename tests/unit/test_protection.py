"""The protection period (保护期 / 防撞单), pure: how it runs from stored times, how it overrides
routing, and — property-tested — that two reps never receive one person inside a period, across
arrivals, activities, pool claims and time passing."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leadrelay.services.notifier.messages import LeadCard, Reader, collision_note, lead_message
from leadrelay.services.router.protection import Protection, Touch, protected_decision, protection_of, touches_of
from leadrelay.services.router.routing import RosterState, RoutingLead, decide_route
from leadrelay.shared.events import LeadContact, LeadSummary, ProtectionCollision
from leadrelay.shared.policy import PolicyError, ProtectionPolicy, policy_from_dict

T0 = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
RULES = ProtectionPolicy(days=30, extend_per_activity_days=7, max_days=90)


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def touch(n: float, kind: str = "assigned", lead: str = "l1") -> Touch:
    return Touch(day(n), kind, lead)  # type: ignore[arg-type]


@dataclass
class Lead:
    """A stored lead as protection reads it (LeadRecord's fields)."""

    lead_id: str
    person: str
    owner: str | None = None
    state: str = "queued"
    assigned_at: datetime | None = None
    accepted_at: datetime | None = None
    contacted_at: datetime | None = None
    closed_at: datetime | None = None


# --- the period --------------------------------------------------------------------------------


def test_being_given_a_person_protects_them_for_the_period() -> None:
    found = protection_of("rep-li", [touch(0)], RULES, day(29.9))
    assert found == Protection("rep-li", day(0), day(30), touch(0))
    assert protection_of("rep-li", [touch(0)], RULES, day(30)) is None  # the end is exclusive


def test_an_activity_keeps_it_at_least_the_extension_after_it_up_to_the_maximum() -> None:
    early = [touch(0), touch(10, "contacted")]  # 10 + 7 < 30: nothing to extend
    assert protection_of("rep-li", early, RULES, day(1)).until == day(30)
    late = [touch(0), touch(28, "contacted")]
    assert protection_of("rep-li", late, RULES, day(29)).until == day(35)
    assert protection_of("rep-li", late, RULES, day(29)).explain() == \
        "protected for rep-li until 2027-01-04: contacted 2026-12-28"
    working = [touch(0), *(touch(n, "contacted") for n in range(5, 200, 5))]
    assert protection_of("rep-li", working, RULES, day(89)).until == day(90)  # never past max_days
    assert protection_of("rep-li", working, RULES, day(90)) is None


def test_an_activity_after_the_period_ran_out_starts_nothing() -> None:
    assert protection_of("rep-li", [touch(0), touch(31, "contacted")], RULES, day(32)) is None


def test_a_lead_given_inside_the_period_does_not_renew_it_but_one_after_starts_a_new_one() -> None:
    inside = [touch(0), touch(20, lead="l2")]
    assert protection_of("rep-li", inside, RULES, day(25)).since == day(0)
    after = [touch(0), touch(45, lead="l2")]
    assert protection_of("rep-li", after, RULES, day(50)) == Protection("rep-li", day(45), day(75), touch(45, lead="l2"))


def test_without_a_maximum_working_the_person_keeps_them() -> None:
    rules = ProtectionPolicy(days=30, extend_per_activity_days=30)
    working = [touch(0), *(touch(n, "contacted") for n in range(20, 400, 20))]
    assert protection_of("rep-li", working, rules, day(399)).until == day(410)


def test_no_rules_or_no_owner_protects_nobody() -> None:
    assert protection_of("rep-li", [touch(0)], None, day(1)) is None
    assert protection_of(None, [touch(0)], RULES, day(1)) is None


def test_only_the_leads_the_rep_owns_now_count() -> None:
    leads = [Lead("l1", "p", "rep-li", "contacted", day(0), None, day(28)),
             Lead("l2", "p", None, "pool", day(0)),  # recycled: no longer theirs
             Lead("l3", "p", "rep-x", "converted", day(1), closed_at=day(2)),
             Lead("l4", "p", "rep-li", "lost", day(3), closed_at=day(4))]
    assert sorted((t.kind, t.lead_id) for t in touches_of(leads, "rep-li")) == [
        ("assigned", "l1"), ("assigned", "l4"), ("contacted", "l1")]  # lost is no activity


def test_the_policy_section_is_validated() -> None:
    base = {"teams": [{"name": "s", "manager": "m"}], "reps": [{"id": "r", "team": "s"}],
            "rules": [{"name": "all", "strategy": "round_robin"}]}
    assert policy_from_dict({**base, "protection": {"days": 30}}).protection == ProtectionPolicy(days=30)
    for bad, path in (({"days": 0}, "protection.days"), ({"days": "30"}, "protection.days"),
                      ({"days": 30, "max_days": 10}, "protection.max_days"),
                      ({"days": 30, "extend_per_activity_days": -1}, "protection.extend_per_activity_days"),
                      ({"days": 30, "weeks": 2}, "protection.weeks")):
        with pytest.raises(PolicyError) as raised:
            policy_from_dict({**base, "protection": bad})
        assert path in str(raised.value), (bad, str(raised.value))


@given(st.lists(st.tuples(st.integers(0, 200), st.sampled_from(["assigned", "accepted", "contacted", "converted"])),
                max_size=12),
       st.integers(1, 40), st.integers(0, 40), st.one_of(st.none(), st.integers(0, 60)), st.integers(0, 260))
def test_a_period_lies_between_its_length_and_its_maximum_and_never_depends_on_order(
        raw, days, extend, extra, now_day) -> None:
    rules = ProtectionPolicy(days=days, extend_per_activity_days=extend,
                             max_days=None if extra is None else days + extra)
    touches = [touch(n, kind, f"l{i}") for i, (n, kind) in enumerate(raw)]
    now = day(now_day)
    found = protection_of("rep", touches, rules, now)
    assert found == protection_of("rep", list(reversed(touches)), rules, now)
    if found is not None:
        assert found.since <= now < found.until
        assert found.since + rules.period <= found.until
        assert rules.longest is None or found.until <= found.since + rules.longest
        # More activity never ends it sooner.
        more = protection_of("rep", [*touches, Touch(now, "contacted", "lx")], rules, now)
        assert more is not None and more.until >= found.until
    else:
        # Run out, it stays out while nothing new happens.
        past = [t for t in touches if t.at <= now]
        assert protection_of("rep", past, rules, now + timedelta(days=3)) is None


# --- routing under protection --------------------------------------------------------------------

ALWAYS = {"days": ["mon-sun"], "start": "00:00", "end": "24:00"}
REPS = ("rep-a", "rep-b", "rep-c")


def team_policy(protection: dict[str, Any]) -> Any:
    return policy_from_dict({
        "teams": [{"name": "sales", "manager": "mgr-1"}],
        "reps": [{"id": rep, "team": "sales", "working_hours": ALWAYS} for rep in REPS],
        "rules": [{"name": "web", "when": {"source": "web"}, "strategy": "round_robin"}],
        "fallback": {"queue": "unassigned", "notify": ["mgr-1"]},
        "protection": protection,
    })


def test_the_protecting_rep_gets_the_lead_and_the_explanation_says_so() -> None:
    policy = team_policy({"days": 30})
    rules = decide_route(RoutingLead("l9", {"source": "web"}), policy, RosterState(), day(1))
    assert rules.owner == "rep-a"
    guard = Protection("rep-c", day(0), day(20), touch(0, "contacted"))
    decision, collided = protected_decision(rules, guard)
    assert (decision.owner, decision.rule, decision.via, collided) == ("rep-c", "protection", "protection", "rep-a")
    assert decision.summary == ("protected for rep-c until 2026-12-20: contacted 2026-11-30; "
                                "rule 'web' would have given it to rep-a")
    assert decision.cursor_updates == {} and decision.credit_updates == {}
    assert decision.arithmetic["rules_decision"]["owner"] == "rep-a"
    same, none = protected_decision(rules, replace(guard, rep="rep-a"))
    assert (same, none) == (rules, None)  # the rules chose the protecting rep anyway
    queued = decide_route(RoutingLead("l9", {"source": "fair"}), policy, RosterState(), day(1))
    parked, nobody = protected_decision(queued, guard)
    assert (parked.owner, nobody) == ("rep-c", None)
    assert parked.summary.endswith("the rules would have parked it in unassigned")


# --- the property: two reps never receive one person inside a protection period ----------------


@dataclass
class World:
    """Persons, leads and reps as the router's store holds them, driven through the pure core
    the router uses (decide_route, protection_of over touches_of, protected_decision)."""

    policy: Any
    now: datetime = T0
    leads: list[Lead] = field(default_factory=list)
    owners: dict[str, str] = field(default_factory=dict)  # person -> owner (people.set_owner)
    cursors: dict[str, int] = field(default_factory=dict)
    received: list[tuple[str, str, datetime]] = field(default_factory=list)  # (person, rep, at)
    # The oracle: the spec, kept incrementally as things happen (person -> (rep, since, until)).
    spec: dict[str, tuple[str, datetime, datetime]] = field(default_factory=dict)
    periods: list[tuple[str, str, datetime, datetime]] = field(default_factory=list)  # every one, as it ended up
    history: dict[str, list[tuple[str, datetime]]] = field(default_factory=dict)  # lead -> activities
    overridden: int = 0  # leads the rules would have given another rep (collisions)
    refused: int = 0  # claims refused

    def protection(self, person: str) -> Protection | None:
        owner = self.owners.get(person)
        mine = [lead for lead in self.leads if lead.person == person]
        touches = touches_of(mine, owner, self.history) if owner else []
        return protection_of(owner, touches, self.policy.protection, self.now)

    def expected(self, person: str) -> tuple[str, datetime, datetime] | None:
        found = self.spec.get(person)
        return found if found is not None and self.now < found[2] else None

    def keep(self, person: str, period: tuple[str, datetime, datetime]) -> None:
        previous = self.spec.get(person)
        if previous is not None and previous[:2] == period[:2]:
            self.periods.remove((person, *previous))
        self.spec[person] = period
        self.periods.append((person, *period))

    def give(self, lead: Lead, rep: str) -> None:
        held = self.expected(lead.person)
        assert held is None or held[0] == rep, f"{rep} received {lead.person} inside {held}"
        if held is None:
            self.keep(lead.person, (rep, self.now, self.now + self.policy.protection.period))
        lead.owner, lead.state, lead.assigned_at = rep, "assigned", self.now
        lead.accepted_at = lead.contacted_at = lead.closed_at = None
        self.owners[lead.person] = rep
        self.received.append((lead.person, rep, self.now))

    def arrive(self, person: str, source: str) -> None:
        lead = Lead(f"l{len(self.leads)}", person)
        self.leads.append(lead)
        rules = decide_route(RoutingLead(lead.lead_id, {"source": source}), self.policy,
                             RosterState(cursors=self.cursors), self.now)
        decision, collided = protected_decision(rules, self.protection(person))
        self.overridden += collided is not None
        self.cursors.update(decision.cursor_updates)
        if decision.owner:
            self.give(lead, decision.owner)

    def act(self, index: int, kind: str) -> None:
        open_leads = [lead for lead in self.leads if lead.owner and lead.state != "converted"]
        if not open_leads:
            return
        lead = open_leads[index % len(open_leads)]
        setattr(lead, {"accepted": "accepted_at", "contacted": "contacted_at", "converted": "closed_at"}[kind],
                self.now)
        lead.state = kind
        self.history.setdefault(lead.lead_id, []).append((kind, self.now))
        held = self.expected(lead.person)
        if held is not None and held[0] == lead.owner:
            rules = self.policy.protection
            until = self.now + rules.extension
            if rules.longest is not None:
                until = min(until, held[1] + rules.longest)
            self.keep(lead.person, (held[0], held[1], max(held[2], until)))

    def claim(self, index: int, rep: str) -> None:
        waiting = [lead for lead in self.leads if lead.owner is None]
        if not waiting:
            return
        lead = waiting[index % len(waiting)]
        guard = self.protection(lead.person)
        if guard is not None and guard.rep != rep:
            self.refused += 1
            return  # refused (409): claim_from_pool's check
        self.give(lead, rep)


# Few people, so their leads meet: "fair" leads match no rule and wait to be claimed.
ACTIONS = st.one_of(
    st.tuples(st.just("arrive"), st.sampled_from(["p1", "p2", "p3"]), st.sampled_from(["web", "fair"])),
    st.tuples(st.just("act"), st.integers(0, 20), st.sampled_from(["accepted", "contacted", "converted"])),
    st.tuples(st.just("claim"), st.integers(0, 20), st.sampled_from(REPS)),
    st.tuples(st.just("claim"), st.integers(0, 20), st.sampled_from(REPS)),
    st.tuples(st.just("wait"), st.integers(1, 24 * 4), st.just("")),  # hours
)


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 10), st.integers(0, 10), st.one_of(st.none(), st.integers(0, 15)),
       st.lists(ACTIONS, min_size=5, max_size=80))
def test_two_reps_never_receive_one_person_inside_a_protection_period(days, extend, extra, actions) -> None:
    world = World(team_policy({"days": days, "extend_per_activity_days": extend,
                               **({} if extra is None else {"max_days": days + extra})}))
    for name, a, b in actions:
        if name == "arrive":
            world.arrive(a, b)
        elif name == "act":
            world.act(a, b)
        elif name == "claim":
            world.claim(a, b)
        else:
            world.now += timedelta(hours=a)
        # The period worked out again from stored times is the one the spec kept as things happened.
        for person in ("p1", "p2", "p3"):
            found, expected = world.protection(person), world.expected(person)
            assert (found.rep, found.since, found.until) == expected if found else expected is None, \
                (person, found, expected)
    # And directly: nobody received a person inside another rep's period, as each period ended up.
    for person, rep, at in world.received:
        assert not [p for p in world.periods if p[0] == person and p[1] != rep and p[2] <= at < p[3]]


def test_the_property_meets_collisions_and_refusals() -> None:
    """The world above is not vacuous: rules are overridden, claims refused, periods run out."""
    world = World(team_policy({"days": 2, "extend_per_activity_days": 1, "max_days": 4}))
    world.arrive("p1", "web")  # rep-a: protected 2 days
    world.arrive("p1", "web")  # the rules say rep-b; rep-a keeps it
    world.arrive("p1", "fair")  # no rule: queued... but protected, so rep-a's
    world.arrive("p2", "fair")  # queued, unprotected
    world.arrive("p2", "web")  # rep-b (the overridden decision moved no cursor): p2 is rep-b's now
    world.claim(0, "rep-c")  # the queued lead of p2: refused
    world.now += timedelta(days=2, hours=1)
    world.claim(0, "rep-c")  # rep-b's period ran out: rep-c may
    assert (world.overridden, world.refused) == (1, 1)  # the queued arrival collided with nobody
    assert [(p, r) for p, r, _ in world.received] == [("p1", "rep-a"), ("p1", "rep-a"), ("p1", "rep-a"),
                                                       ("p2", "rep-b"), ("p2", "rep-c")]


def test_managers_read_a_collision_in_their_language_and_time_zone() -> None:
    routed = ProtectionCollision(kind="routing", protected_by="rep-li", protected_until=day(20) - timedelta(hours=3),
                                 last_touch="contacted", last_touch_at=day(0), rule="hot-enterprise")
    assert collision_note("en", routed, "Anna", "Li Lei", "Asia/Shanghai") == (
        "Rule hot-enterprise would have given this lead to Anna; it went to Li Lei, who is protecting this person "
        "until 2026-12-20 (last: contacted 2026-11-30).")
    claimed = routed.model_copy(update={"kind": "claim", "rule": None})
    assert collision_note("zh", claimed, "安娜", "李雷", "Asia/Shanghai") == (
        "安娜 试图认领这条线索，已被拒绝：该客户在 李雷 的保护期内（至 2026-12-20，最近一次：2026-11-30 联系）。")
    assert collision_note("en", routed, "Anna", "Li Lei", "America/Los_Angeles").count("2026-12-19") == 1
    card = LeadCard.from_summary("lead-1", _summary())
    message = lead_message("collision", card, Reader("mgr-1", "zh", "Asia/Shanghai"), "http://lr.test")
    assert message.kind == "collision" and message.title.startswith("撞单")


def _summary() -> LeadSummary:
    return LeadSummary(source="web", contact=LeadContact(name="Wang Fang", company="Big Factory", email="w@b.cn"),
                       score=10, grade="cold", reasons=[])


def test_every_contact_counts_though_the_lead_keeps_only_its_latest() -> None:
    lead = Lead("l1", "p", "rep-li", "contacted", day(0), contacted_at=day(33))
    history = {"l1": [("contacted", day(28)), ("contacted", day(33))]}
    assert protection_of("rep-li", touches_of([lead], "rep-li"), RULES, day(34)) is None  # the record alone
    assert protection_of("rep-li", touches_of([lead], "rep-li", history), RULES, day(34)).until == day(40)
    earlier_owner = {"l1": [("contacted", day(-5))]}  # before rep-li was given the lead: not theirs
    assert [t.kind for t in touches_of([lead], "rep-li", earlier_owner)] == ["assigned"]
