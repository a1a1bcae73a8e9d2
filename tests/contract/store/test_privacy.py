"""``PrivacyRepository`` (``shared/ports/privacy.py``) through the erasure use case, on memory,
SQLite and PostgreSQL: after erasing a person, none of their personal values is left in any
column of any table (the tables are read from the database, so a new table is scanned too),
while the other person's data, the lead rows reports count, and the log's rows stay."""

from __future__ import annotations

from leadrelay.services.scoring.privacy import erase_person, export_person
from leadrelay.shared import topics
from leadrelay.shared.adapters.sql import schema
from leadrelay.shared.erasure import is_event_tombstone
from leadrelay.shared.events import Envelope, LeadContact, LeadReceived, PersonErased
from leadrelay.shared.identity import identity_keys, normalise_email, normalise_phone
from leadrelay.shared.ports import DuplicatePair, PersonMerge, Store
from tests.contract.store.values import AT, at, new_lead
from tests.pii_scan import as_text, found_in, scan_database, scan_memory

SALT = "contract-salt"
A = {"email": "Wang.Lei+Expo@Example-Factory.cn", "phone": "+86 138 0013 8000", "name": "王磊",
     "company": "示例制造有限公司", "country": "CN", "industry": "manufacturing", "employees": 800, "consent": True,
     "title": "采购经理", "attributes": {"booth": "A12"}}
A_OTHER_LEAD = {"phone": "13800138000", "name": "Wang Lei", "country": "CN", "consent": False}
B = {"email": "li.na@other-works.example", "phone": "+86 139 0013 9000", "name": "李娜", "company": "另一个工厂",
     "country": "CN"}
A_VALUES = ["Wang.Lei+Expo@Example-Factory.cn", "wang.lei@example-factory.cn", "+86 138 0013 8000", "+8613800138000",
            "13800138000", "王磊", "Wang Lei", "示例制造有限公司", "采购经理"]
B_VALUES = ["li.na@other-works.example", "+86 139 0013 9000", "李娜"]


def keys_of(contact: dict) -> list[str]:
    email = normalise_email(contact["email"]) if contact.get("email") else None
    phone = normalise_phone(contact["phone"], "CN") if contact.get("phone") else None
    return list(identity_keys(email, phone, "web", None, SALT))


def received(lead_id: str, contact: dict, keys: list[str]) -> Envelope:
    event = LeadReceived(lead_id=lead_id, source="web", received_at=AT, contact=LeadContact(**contact),
                         identity_keys=keys)
    return Envelope.wrap(event, source="test", subject=lead_id, key=keys[0], correlation_id=f"c-{lead_id}", time=AT)


async def seed_person(store: Store, person_id: str, leads: dict[str, dict]) -> dict[str, Envelope]:
    """A person with leads, and their data in every table that holds some."""
    first = next(iter(leads.values()))
    all_keys = sorted({key for contact in leads.values() for key in keys_of(contact)})
    envelopes = {}
    async with store.transaction() as uow:
        await uow.people.save(person_id, {"name": first["name"], "company": first["company"], "consent": True},
                              None, len(leads), AT, AT, all_keys, new=True)
        await uow.matches.link(person_id, [f"n:{person_id}"], AT)
        await uow.matches.add_pair(DuplicatePair(
            pair_id=f"pair-{person_id}", person_id=person_id, other_person_id="person-c", lead_id=next(iter(leads)),
            score=0.8, reasons=["name 0.90"], state="open", created_at=AT))
        await uow.matches.record_merge(PersonMerge(
            merge_id=f"m-{person_id}", person_id=person_id, from_person_id=None, lead_ids=list(leads),
            identity_keys=all_keys, person_before={"kept": {"data": {"name": first["name"]}}}, kind="auto",
            score=0.97, reasons=["name 1.00"], merged_at=AT, merged_by="scoring"))
        for lead_id, contact in leads.items():
            keys = keys_of(contact)
            await uow.leads.insert(**new_lead(lead_id, person_id=person_id, identity_key=keys[0], contact=contact,
                                              state="assigned", owner="rep-a"))
            await uow.leads.add_history(lead_id, "received", {"source": "web"}, at=AT)
            await uow.leads.add_history(lead_id, "assigned", {"owner": "rep-a"}, at=at(1))
            await uow.leads.add_history(lead_id, "lost", {"by": "rep-a", "reason": f"called {contact['phone']}, "
                                                          f"{contact['name']} said no"}, at=at(2))
            await uow.clocks.add(timer_id=f"{lead_id}:1:first_touch:remind", lead_id=lead_id, clock="first_touch",
                                 step="remind", owner="rep-a", due_at=at(10))
            await uow.leads.add_decision(lead_id, at(1), 1, "east", "round_robin", "rep-a", None, {
                "matched_because": f"email_domain = x; name = {contact['name']}", "rule": "east"})
            await uow.deliveries.add(dedup_key=f"d-{lead_id}", lead_id=lead_id, recipient="rep-a", kind="assigned",
                                     platform="slack", message={"text": f"New lead {contact['name']} {contact['phone']}"},
                                     received_at=AT)
            await uow.webhook_deliveries.add(dedup_key=f"w-{lead_id}", subscription_id="wh_1", event_id=f"e-{lead_id}",
                                             event_type="lead.assigned", lead_id=lead_id, occurred_at=AT,
                                             payload={"lead": {"contact": contact}})
            await uow.idempotency.remember("web", f"form-{contact['phone']}", "0" * 64, lead_id)
            await uow.roster.add_credit("rep-a", 1, f"{contact['name']} was a no-show", "mgr-a", lead_id)
            envelope = received(lead_id, contact, keys)
            await uow.outbox.emit(envelope)
            envelopes[lead_id] = envelope
            await uow.outbox.append_if_new(topics.dead_letter(topics.LEAD_RECEIVED, "scoring"), keys[0],
                                           envelope.to_bytes(), f"dlq:scoring:{lead_id}")
            await uow.inbox.dead_letter("scoring", topics.LEAD_RECEIVED, envelope.id, envelope.to_bytes(),
                                        f"ValidationError: input_value={contact['phone']!r}")
    return envelopes


async def leftovers(store_harness, needles: list[str]) -> list:
    if store_harness.name == "memory":
        return scan_memory(store_harness.memory.tables, needles)
    hits, scanned = await scan_database(store_harness.sql.engine, needles)
    assert {table.name for table in schema.metadata.sorted_tables} <= scanned
    return hits


async def test_an_erased_persons_values_are_nowhere_and_everyone_elses_stay(store_harness, store: Store):
    a_events = await seed_person(store, "person-a", {"a-1": A, "a-2": A_OTHER_LEAD | {"company": None}})
    b_events = await seed_person(store, "person-b", {"b-1": B})
    assert len(await leftovers(store_harness, A_VALUES)) > 20  # the seeding put them everywhere
    outbox_before = await store_harness.emitted()

    erasure = await erase_person(store, store_harness.clock, "person-a", "admin")

    assert erasure.already is False and erasure.lead_ids == ["a-1", "a-2"] and erasure.events == 4
    assert await leftovers(store_harness, A_VALUES) == []
    assert {needle for *_, needle in await leftovers(store_harness, B_VALUES)} == set(B_VALUES)
    # The log keeps every row (positions stay valid): A's are tombstones, B's as they were.
    outbox = await store_harness.emitted()
    assert [row.seq for row in outbox[:len(outbox_before)]] == [row.seq for row in outbox_before]
    tombstoned = {row.event_id for row in outbox if is_event_tombstone(row.payload)}
    assert tombstoned == {e.id for e in a_events.values()} | {"dlq:scoring:a-1", "dlq:scoring:a-2"}
    [erased_event] = [row.envelope() for row in outbox[len(outbox_before):]]
    assert erased_event.type == PersonErased.type and erased_event.key == "person-a"
    assert erased_event.payload() == PersonErased(person_id="person-a", lead_ids=["a-1", "a-2"],
                                                  erased_at=store_harness.clock(), by="admin")
    async with store.read() as uow:
        assert await uow.privacy.erased_events(
            [a_events["a-1"].id, a_events["a-2"].id, b_events["b-1"].id, "no-such-event"]
        ) == {a_events["a-1"].id, a_events["a-2"].id}
        # Nothing finds them again; the lead rows stay for reports, anonymised.
        assert await uow.people.ids_for_keys(keys_of(A) + keys_of(A_OTHER_LEAD)) == []
        assert await uow.people.ids_for_keys(keys_of(B)) == ["person-b"]
        assert await uow.matches.candidates(["n:person-a"], per_key=5) == []
        lead = await uow.leads.get("a-1")
        assert lead is not None and (lead.state, lead.owner, lead.grade, lead.source) == (
            "assigned", "rep-a", "warm", "web")
        assert lead.contact == {"erased": True, "country": "CN", "industry": "manufacturing", "employees": 800,
                                "consent": True}
        assert [h.kind for h in await uow.leads.history("a-1")] == ["received", "assigned", "lost"]
        assert [d.state for d in await uow.deliveries.for_lead("a-1")] == ["cancelled"]
        assert [d.state for d in await uow.deliveries.for_lead("b-1")] == ["pending"]
        assert [c.state for c in await uow.clocks.for_lead("a-1")] == ["cancelled"]
        assert [c.state for c in await uow.clocks.for_lead("b-1")] == ["pending"]
        assert await uow.idempotency.get("web", f"form-{B['phone']}") is not None
        journeys = await uow.reports.funnel_leads(at(-60), at(60))
        assert [(p.pair_id, p.decided_by) for p in await uow.matches.pairs("kept_apart")] == [
            ("pair-person-a", "erased")]
        assert [p.pair_id for p in await uow.matches.pairs("open")] == ["pair-person-b"]
        person = await uow.people.get("person-a")
    assert sorted(j.lead_id for j in journeys) == ["a-1", "a-2", "b-1"]
    assert person is not None and person.data["erased"] is True and person.lead_count == 2


async def test_erasing_again_changes_nothing_and_emits_nothing(store_harness, store: Store):
    await seed_person(store, "person-a", {"a-1": A})
    first = await erase_person(store, store_harness.clock, "person-a", "admin")
    outbox = await store_harness.emitted()
    store_harness.clock.advance(minutes=5)
    again = await erase_person(store, store_harness.clock, "person-a", "admin")
    assert again.already is True and again.events == 0 and again.erased_at == first.erased_at
    assert await store_harness.emitted() == outbox


async def test_the_export_holds_everything_before_and_nothing_personal_after(store_harness, store: Store):
    await seed_person(store, "person-a", {"a-1": A, "a-2": A_OTHER_LEAD | {"company": None}})
    document = await export_person(store, store_harness.clock, "person-a")
    assert [lead["lead_id"] for lead in document["leads"]] == ["a-1", "a-2"]  # newest first; same time: by id
    lead = document["leads"][0]
    assert lead["contact"]["email"] == A["email"] and lead["contact"]["phone"] == A["phone"]
    assert [h["kind"] for h in lead["history"]] == ["received", "assigned", "lost"]
    assert lead["decisions"][0]["rule"] == "east" and lead["notifications"][0]["message"]["text"]
    assert lead["webhooks"][0]["payload"]["lead"]["contact"]["email"] == A["email"]
    assert document["consent"]["by_lead"] == [{"lead_id": "a-1", "consent": True, "received_at": AT.isoformat()},
                                              {"lead_id": "a-2", "consent": False, "received_at": AT.isoformat()}]
    assert [m["merge_id"] for m in document["merges"]] == ["m-person-a"]
    assert document["erased"] is False

    await erase_person(store, store_harness.clock, "person-a", "admin")
    after = await export_person(store, store_harness.clock, "person-a")
    assert after["erased"] is True and len(after["leads"]) == 2
    assert found_in(as_text(after), A_VALUES) == []
