"""The three consumers' handlers over the in-memory store (``tests/fakes.py``), no database.

Each test calls a handler the way the consumer loop does, ``await handler(event, envelope, uow)``
inside one unit of work, then reads what it stored and emitted. The fake passes the same store
contract suite as SQLite and PostgreSQL (tests/contract/store), so what holds here holds there."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from leadrelay.services.notifier.handler import NotifierHandler
from leadrelay.services.notifier.messages import message_from_json
from leadrelay.services.router.handler import RouterHandler
from leadrelay.services.scoring.handler import NoPolicy, ScoringHandler
from leadrelay.shared import topics
from leadrelay.shared.events import (
    Envelope,
    LeadAssigned,
    LeadContact,
    LeadQualified,
    LeadReceived,
    LeadSummary,
    ScoreReason,
    SlaEvent,
)
from leadrelay.shared.metrics import Metrics
from leadrelay.shared.policy import load_policy
from leadrelay.shared.ports import RetryLater
from tests.conftest import FakeClock, policy_text
from tests.fakes import MemoryStore

RECEIVED = datetime(2026, 11, 25, 1, 59, 30, tzinfo=UTC)
NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)  # a Wednesday, 10:00 in Shanghai
TODAY = date(2026, 11, 25)
CTO = LeadContact(email="li.wei@bigfactory.cn", phone="+8613800138000", name="Li Wei", company="Big Factory",
                  title="CTO", employees=2000, country="CN", region="Shanghai")  # 40 + 25: hot
STUDENT = LeadContact(email="zhang.san@gmail.com", name="Zhang San")  # free email, -10: cold
HOT_REASONS = [ScoreReason(rule="senior-title", points=40), ScoreReason(rule="big-company", points=25)]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def store(clock: FakeClock) -> MemoryStore:
    return MemoryStore(clock)


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


async def apply_policy(store: MemoryStore, text: str | None = None) -> int:
    async with store.transaction() as uow:
        version, _ = await uow.policies.store(text or policy_text(None))
    return version


def metric(metrics: Metrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


# -- scoring: lead.received → a scored lead, the person merged, lead.qualified ---------------------------


def received(lead_id: str, contact: LeadContact, keys: list[str]) -> tuple[LeadReceived, Envelope]:
    event = LeadReceived(lead_id=lead_id, source="web", received_at=RECEIVED, contact=contact, identity_keys=keys)
    envelope = Envelope.wrap(event, source="leadrelay/intake", subject=lead_id, key=keys[0],
                             correlation_id=f"corr-{lead_id}", time=RECEIVED)
    return event, envelope


async def score(store: MemoryStore, handler: ScoringHandler, event: LeadReceived, envelope: Envelope) -> None:
    async with store.transaction() as uow:
        await handler(event, envelope, uow)


async def test_scoring_a_new_persons_lead_stores_it_creates_them_and_qualifies_it(
        store: MemoryStore, metrics: Metrics, clock: FakeClock):
    await apply_policy(store)
    event, envelope = received("lead-1", CTO, ["email-key", "phone-key"])
    await score(store, ScoringHandler(metrics, clock), event, envelope)

    async with store.read() as uow:
        lead = await uow.leads.get("lead-1")
        assert lead is not None
        person = await uow.people.get(lead.person_id or "")
        history = await uow.leads.history("lead-1")
        assert await uow.people.ids_for_keys(["phone-key"]) == [lead.person_id]
    assert (lead.state, lead.score, lead.grade, lead.duplicate_of, lead.policy_version) == ("qualified", 65, "hot",
                                                                                          None, 1)
    assert lead.reasons == [r.model_dump() for r in HOT_REASONS]
    assert (lead.identity_key, lead.correlation_id, lead.received_at) == ("email-key", "corr-lead-1", RECEIVED)
    assert lead.contact["email"] == "li.wei@bigfactory.cn"  # the raw contact stays with the lead…
    assert person is not None and (person.lead_count, person.owner, person.first_seen_at) == (1, None, RECEIVED)
    assert "email" not in person.data and person.data["company"] == "Big Factory"  # …not with the person
    assert [(h.kind, h.at) for h in history] == [("received", RECEIVED), ("scored", NOW)]

    [qualified] = store.envelopes(topics.LEAD_QUALIFIED)
    assert (qualified.key, qualified.correlation_id, qualified.subject) == ("email-key", "corr-lead-1", "lead-1")
    assert qualified.payload() == LeadQualified(
        lead_id="lead-1", person_id=person.person_id, source="web", received_at=RECEIVED, contact=CTO, score=65,
        grade="hot", reasons=HOT_REASONS, duplicate_of=None, known_owner=None, policy_version=1)
    assert metric(metrics, "leadrelay_leads_qualified_total", grade="hot") == 1
    assert metric(metrics, "leadrelay_duplicates_merged_total") == 0


async def test_a_returning_persons_lead_is_merged_into_them_and_names_their_owner(
        store: MemoryStore, metrics: Metrics, clock: FakeClock):
    await apply_policy(store)
    handler = ScoringHandler(metrics, clock)
    await score(store, handler, *received("lead-1", CTO, ["email-key", "phone-key"]))
    async with store.transaction() as uow:
        [person_id] = await uow.people.ids_for_keys(["email-key"])
        await uow.people.set_owner(person_id, "rep-b")  # the router gave them to rep-b
    clock.advance(hours=1)

    # A new email, the same phone: the same person.
    moved = CTO.model_copy(update={"email": "li.wei@newco.cn", "company": "New Co", "title": "CEO"})
    await score(store, handler, *received("lead-2", moved, ["new-email-key", "phone-key"]))

    async with store.read() as uow:
        second = await uow.leads.get("lead-2")
        person = await uow.people.get(person_id)
        assert await uow.people.ids_for_keys(["new-email-key"]) == [person_id]  # the new key links them
        scored = (await uow.leads.history("lead-2"))[-1]
    assert second is not None and (second.person_id, second.duplicate_of) == (person_id, "lead-1")
    assert person is not None and (person.lead_count, person.owner, person.data["company"]) == (2, "rep-b", "New Co")
    assert scored.detail["merged_into_person"] is True
    qualified = store.envelopes(topics.LEAD_QUALIFIED)[-1].payload()
    assert isinstance(qualified, LeadQualified)
    assert (qualified.person_id, qualified.duplicate_of, qualified.known_owner) == (person_id, "lead-1", "rep-b")
    assert metric(metrics, "leadrelay_duplicates_merged_total") == 1


async def test_without_a_policy_a_lead_waits_and_nothing_is_stored(
        store: MemoryStore, metrics: Metrics, clock: FakeClock):
    event, envelope = received("lead-1", CTO, ["email-key"])
    with pytest.raises(NoPolicy) as raised:
        await score(store, ScoringHandler(metrics, clock), event, envelope)
    assert isinstance(raised.value, RetryLater)  # retried by the consumer loop, never dead-lettered
    async with store.read() as uow:
        assert await uow.leads.get("lead-1") is None and await uow.people.ids_for_keys(["email-key"]) == []
    assert store.emitted == []
    assert metric(metrics, "leadrelay_leads_qualified_total", grade="hot") == 0


async def test_a_lead_received_again_under_a_new_event_id_changes_nothing(
        store: MemoryStore, metrics: Metrics, clock: FakeClock):
    await apply_policy(store)
    handler = ScoringHandler(metrics, clock)
    event, envelope = received("lead-1", CTO, ["email-key"])
    await score(store, handler, event, envelope)
    again = envelope.model_copy(update={"id": "another-event-id"})  # a re-published idempotent post
    clock.advance(minutes=5)
    await score(store, handler, event, again)

    async with store.read() as uow:
        [person_id] = await uow.people.ids_for_keys(["email-key"])
        person = await uow.people.get(person_id)
        assert len(await uow.leads.history("lead-1")) == 2
    assert person is not None and person.lead_count == 1
    assert len(store.envelopes(topics.LEAD_QUALIFIED)) == 1
    assert metric(metrics, "leadrelay_leads_qualified_total", grade="hot") == 1


# -- the router: lead.qualified → an owner (or a queue), the reasons, clocks, lead.assigned -------------


async def a_scored_lead(store: MemoryStore, lead_id: str, contact: LeadContact, grade: str, score: int,
                        reasons: list[ScoreReason], known_owner: str | None = None) -> tuple[LeadQualified, Envelope]:
    """The lead and person as scoring leaves them, and the event it emitted."""
    person_id = f"person-{lead_id}"
    async with store.transaction() as uow:
        await uow.people.save(person_id, {}, known_owner, 1, RECEIVED, RECEIVED, [f"key-{lead_id}"], new=True)
        await uow.leads.insert(
            lead_id=lead_id, person_id=person_id, source="web", identity_key=f"key-{lead_id}",
            correlation_id=f"corr-{lead_id}", received_at=RECEIVED, contact=contact.model_dump(mode="json"),
            score=score, grade=grade, reasons=[r.model_dump() for r in reasons], duplicate_of=None, state="qualified",
            policy_version=1)
    event = LeadQualified(lead_id=lead_id, person_id=person_id, source="web", received_at=RECEIVED, contact=contact,
                          score=score, grade=grade, reasons=reasons, known_owner=known_owner, policy_version=1)
    envelope = Envelope.wrap(event, source="leadrelay/scoring", subject=lead_id, key=f"key-{lead_id}",
                             correlation_id=f"corr-{lead_id}", time=RECEIVED)
    return event, envelope


async def route(store: MemoryStore, handler: RouterHandler, event: LeadQualified, envelope: Envelope) -> LeadAssigned:
    async with store.transaction() as uow:
        await handler(event, envelope, uow)
    [assigned] = [e for e in store.envelopes(topics.LEAD_ASSIGNED) if e.subject == event.lead_id]
    assert (assigned.key, assigned.correlation_id, assigned.source) == (envelope.key, envelope.correlation_id,
                                                                        "leadrelay/router")
    payload = assigned.payload()
    assert isinstance(payload, LeadAssigned)
    return payload


async def test_a_hot_lead_goes_to_the_least_loaded_enterprise_rep_with_its_reasons_and_clocks(
        store: MemoryStore, metrics: Metrics, clock: FakeClock):
    await apply_policy(store)
    async with store.transaction() as uow:
        await uow.roster.adjust_load("rep-a", today=TODAY, open_delta=2)  # rep-a has more open leads
    event, envelope = await a_scored_lead(store, "lead-1", CTO, "hot", 65, HOT_REASONS)
    assigned = await route(store, RouterHandler(metrics, clock), event, envelope)

    async with store.read() as uow:
        lead = await uow.leads.get("lead-1")
        person = await uow.people.get("person-lead-1")
        [decision] = await uow.leads.decisions("lead-1")
        load = (await uow.roster.loads())["rep-b"]
        clocks = await uow.clocks.for_lead("lead-1")
        history = await uow.leads.history("lead-1")
    assert lead is not None and (lead.state, lead.owner, lead.team, lead.queue, lead.assigned_at) == (
        "assigned", "rep-b", "enterprise", None, NOW)
    assert person is not None and person.owner == "rep-b"
    assert (decision.rule, decision.strategy, decision.owner, decision.decided_at) == ("hot-enterprise",
                                                                                       "least_loaded", "rep-b", NOW)
    explanation = decision.explanation
    assert explanation["policy_version"] == 1 and explanation["summary"]
    assert {(c["rep"], c["kept"]) for c in explanation["candidates"]} >= {("rep-a", True), ("rep-b", True)}
    assert "cursor_updates" not in explanation and "credit_updates" not in explanation
    assert (load.open_leads, load.assigned_today, load.last_assigned_at) == (1, 1, NOW)
    assert [(c.timer_id, c.due_at) for c in clocks[:2]] == [
        ("lead-1:0:first_touch:remind", NOW + timedelta(minutes=7.5)),
        ("lead-1:0:first_touch:escalate", NOW + timedelta(minutes=15))]
    assert {c.clock for c in clocks} == {"handoff", "first_touch", "recycle"}
    assert {(c.owner, c.state) for c in clocks} == {("rep-b", "pending")} and len(clocks) == 7
    assert (history[-1].kind, history[-1].detail["owner"]) == ("assigned", "rep-b")

    assert (assigned.owner, assigned.rule, assigned.reason, assigned.notify) == ("rep-b", "hot-enterprise",
                                                                                 "routed", ["rep-b"])
    assert (assigned.first_touch_due_at, assigned.first_touch_target) == (NOW + timedelta(minutes=15),
                                                                          timedelta(minutes=15))
    assert (assigned.assigned_at, assigned.received_at, assigned.score, assigned.grade) == (NOW, RECEIVED, 65, "hot")
    assert assigned.lead == LeadSummary(source="web", contact=CTO, score=65, grade="hot", reasons=HOT_REASONS)
    assert metric(metrics, "leadrelay_assignments_total", rule="hot-enterprise", rep="rep-b") == 1


async def test_a_returning_person_goes_back_to_their_owner(store: MemoryStore, metrics: Metrics, clock: FakeClock):
    await apply_policy(store)
    event, envelope = await a_scored_lead(store, "lead-1", STUDENT, "cold", -10,
                                          [ScoreReason(rule="free-email", points=-10)], known_owner="rep-a")
    assigned = await route(store, RouterHandler(metrics, clock), event, envelope)
    assert (assigned.owner, assigned.rule) == ("rep-a", "returning-person")
    async with store.read() as uow:
        [decision] = await uow.leads.decisions("lead-1")
    assert (decision.rule, decision.owner) == ("returning-person", "rep-a")


async def test_cold_leads_go_round_robin_and_the_cursor_is_kept_in_the_store(
        store: MemoryStore, metrics: Metrics, clock: FakeClock):
    await apply_policy(store)
    handler = RouterHandler(metrics, clock)
    for lead_id in ("lead-1", "lead-2"):
        event, envelope = await a_scored_lead(store, lead_id, STUDENT, "cold", -10, [])
        assigned = await route(store, handler, event, envelope)
        assert (assigned.owner, assigned.rule) == ("rep-c", "everyone-else")
    async with store.read() as uow:
        assert await uow.roster.cursors() == {"everyone-else": 2}
        assert (await uow.roster.loads())["rep-c"].assigned_today == 2


async def test_when_nobody_in_the_pool_can_take_a_lead_it_is_parked_and_the_teams_manager_is_told(
        store: MemoryStore, metrics: Metrics, clock: FakeClock):
    await apply_policy(store)
    async with store.transaction() as uow:
        await uow.roster.adjust_load("rep-c", today=TODAY, open_delta=1000)  # the SMB desk is full
    event, envelope = await a_scored_lead(store, "lead-1", STUDENT, "cold", -10, [])
    assigned = await route(store, RouterHandler(metrics, clock), event, envelope)

    async with store.read() as uow:
        lead = await uow.leads.get("lead-1")
        [decision] = await uow.leads.decisions("lead-1")
        assert await uow.clocks.for_lead("lead-1") == []
        assert (await uow.leads.history("lead-1"))[-1].kind == "queued"
    assert lead is not None and (lead.state, lead.owner, lead.queue) == ("queued", None, "unassigned")
    assert (decision.owner, decision.queue, decision.rule) == (None, "unassigned", "everyone-else")
    assert decision.explanation["via"] == "queue" and "unassigned" in decision.explanation["summary"]
    assert (assigned.owner, assigned.queue, assigned.reason, assigned.notify) == (None, "unassigned", "fallback",
                                                                                  ["mgr-b"])  # smb's manager
    assert assigned.first_touch_due_at is None and assigned.lead.queue == "unassigned"
    assert metric(metrics, "leadrelay_leads_unassigned_total", queue="unassigned") == 1


# -- the notifier: lead.assigned / lead.sla → one queued delivery per reader -----------------------------


def assignment(notify: list[str], reason: str = "routed") -> tuple[LeadAssigned, Envelope]:
    event = LeadAssigned(lead_id="lead-1", received_at=RECEIVED, assigned_at=NOW, owner="rep-a", rule="hot-enterprise",
                         policy_version=1, grade="hot", score=65, reason=reason, notify=notify,
                         first_touch_due_at=NOW + timedelta(minutes=15), first_touch_target=timedelta(minutes=15),
                         lead=LeadSummary(source="web", contact=CTO, score=65, grade="hot", reasons=HOT_REASONS))
    return event, Envelope.wrap(event, source="leadrelay/router", subject="lead-1", key="key-lead-1",
                                correlation_id="corr-lead-1", time=NOW)


class Wakes:
    """The notifier's ``wake_sender``: counts the times the sender was told there is work."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


async def notify(store: MemoryStore, event: LeadAssigned | SlaEvent, envelope: Envelope, wakes: Wakes) -> None:
    handler = NotifierHandler("https://lr.example", wakes)
    async with store.transaction() as uow:
        await handler(event, envelope, uow)
        assert wakes.count == 0  # not before the deliveries are committed


async def test_each_reader_gets_one_delivery_on_their_platform_keyed_by_event_and_reader(store: MemoryStore):
    await apply_policy(store)
    wakes = Wakes()
    event, envelope = assignment(["rep-a", "mgr-a"])
    await notify(store, event, envelope, wakes)

    async with store.read() as uow:
        deliveries = await uow.deliveries.for_lead("lead-1")
    assert [(d.recipient, d.dedup_key, d.kind, d.platform, d.state, d.received_at) for d in deliveries] == [
        ("rep-a", f"{envelope.id}:rep-a", "assigned", "slack", "pending", RECEIVED),
        ("mgr-a", f"{envelope.id}:mgr-a", "assigned", "slack", "pending", RECEIVED)]
    owner, manager = (message_from_json(d.message) for d in deliveries)
    assert owner.title == "New hot lead: Li Wei (Big Factory)"
    assert owner.text == "First touch by 10:15 (Asia/Shanghai), 15 min."
    assert owner.url == "https://lr.example/console/leads/lead-1"
    assert manager.text.splitlines()[0] == "Owner: rep-a."
    assert wakes.count == 1


async def test_a_redelivered_event_queues_nothing_twice(store: MemoryStore):
    await apply_policy(store)
    event, envelope = assignment(["rep-a", "mgr-a"])
    await notify(store, event, envelope, Wakes())
    await notify(store, event, envelope, Wakes())
    async with store.read() as uow:
        assert [d.recipient for d in await uow.deliveries.for_lead("lead-1")] == ["rep-a", "mgr-a"]


async def test_an_sla_escalation_is_queued_for_the_manager_as_an_escalation(store: MemoryStore):
    await apply_policy(store)
    event = SlaEvent(lead_id="lead-1", clock="first_touch", step="escalate", owner="rep-a", notify=["mgr-a"],
                     due_at=NOW, fired_at=NOW, detail="First touch overdue.",
                     lead=LeadSummary(source="web", contact=CTO, score=65, grade="hot", reasons=HOT_REASONS))
    envelope = Envelope.wrap(event, source="leadrelay/router", subject="lead-1", key="key-lead-1",
                             correlation_id="corr-lead-1", time=NOW)
    await notify(store, event, envelope, Wakes())
    async with store.read() as uow:
        [delivery] = await uow.deliveries.for_lead("lead-1")
    assert (delivery.recipient, delivery.kind, delivery.platform, delivery.received_at) == ("mgr-a", "escalation",
                                                                                            "slack", None)
    assert delivery.dedup_key == f"{envelope.id}:mgr-a"


async def test_the_platform_comes_from_the_policy_and_is_none_without_one(store: MemoryStore):
    event, envelope = assignment(["rep-a"])
    await notify(store, event, envelope, Wakes())  # no policy applied yet
    teams = policy_text(None).replace("    backup: rep-b\n    chat: {platform: slack",
                                      "    backup: rep-b\n    chat: {platform: teams")
    assert load_policy(teams).chat_for("rep-a").platform == "teams"
    await apply_policy(store, teams)
    later, again = assignment(["rep-a"], reason="reassigned")
    await notify(store, later, again, Wakes())
    async with store.read() as uow:
        first, second = await uow.deliveries.for_lead("lead-1")
    assert (first.platform, second.platform, second.kind) == ("none", "teams", "reassigned")


async def test_an_event_that_names_nobody_queues_nothing_and_wakes_nobody(store: MemoryStore):
    await apply_policy(store)
    wakes = Wakes()
    event, envelope = assignment([])
    await notify(store, event, envelope, wakes)
    async with store.read() as uow:
        assert await uow.deliveries.for_lead("lead-1") == []
    assert wakes.count == 0
