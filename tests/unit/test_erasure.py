"""Erasure's pure rules (``shared/erasure.py``), consent on the person record, and the consumer loop
skipping erased events: the tombstone it reads from the embedded log, and the original a Kafka
topic still holds until retention (the log's copy of that event is a tombstone)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import ClassVar

from leadrelay.services.scoring.dedup import merge_person
from leadrelay.shared import topics
from leadrelay.shared.erasure import (
    event_tombstone,
    is_event_tombstone,
    personal_values,
    scrubbed,
    tombstone_contact,
)
from leadrelay.shared.events import Contract, Envelope, LeadContact, LeadReceived
from leadrelay.shared.metrics import Metrics
from leadrelay.shared.ports import Delivery
from leadrelay.shared.shell.consumer import ConsumerRunner, ConsumerSpec
from tests.fakes import MemoryStore

AT = datetime(2031, 3, 4, 8, 0, tzinfo=UTC)
CONTACT = {"email": "Wang.Lei+expo@Example.cn", "phone": "+86 138 0013 8000", "name": "王磊", "company": "示例制造",
           "title": "经理", "city": "苏州", "country": "CN", "region": "华东", "industry": "制造", "employees": 300,
           "language": "zh", "website": "https://example.cn", "utm_source": "expo", "utm_campaign": "spring",
           "utm_term": "wang lei", "consent": False, "attributes": {"note": "call 13800138000"}}


def test_a_tombstoned_contact_keeps_only_what_reports_group_by():
    assert tombstone_contact(CONTACT) == {"erased": True, "country": "CN", "region": "华东", "industry": "制造",
                                          "employees": 300, "language": "zh", "utm_source": "expo",
                                          "utm_campaign": "spring", "consent": False}


def test_personal_values_cover_the_forms_a_phone_and_an_email_are_written_in():
    values = personal_values([CONTACT])
    assert {"Wang.Lei+expo@Example.cn", "wang.lei@example.cn", "+86 138 0013 8000", "+8613800138000",
            "8613800138000", "13800138000", "王磊", "示例制造", "经理", "https://example.cn"} <= values
    assert "CN" not in values and "制造" not in values  # country and industry are kept, never scrubbed


def test_scrubbing_replaces_the_values_in_any_case_and_keeps_the_shape():
    detail = {"reason": "WANG.LEI@example.cn asked to call 138-0013-8000 or 13800138000", "王磊": [1, "王磊 said"],
              "score": 35}
    assert scrubbed(detail, personal_values([CONTACT])) == {
        "reason": "[erased] asked to call 138-0013-8000 or [erased]", "[erased]": [1, "[erased] said"], "score": 35}
    assert scrubbed(detail, frozenset()) == detail


def test_an_event_tombstone_is_recognised_and_names_its_event():
    assert is_event_tombstone(event_tombstone("e-1")) and b'"e-1"' in event_tombstone("e-1")
    assert not is_event_tombstone(b'{"id":"e-1","type":"lead.received.v1"}')


def test_the_person_keeps_the_newest_consent_answer():
    first = merge_person(None, LeadContact(email="a@example.cn", consent=True), lead_id="l-1", keys=("e:1",),
                         person_id_if_new="p-1", at=AT).person
    assert (first.consent, first.consent_at) == (True, AT.isoformat())
    withdrawn = merge_person(first, LeadContact(consent=False), lead_id="l-2", keys=("e:1",), person_id_if_new="x",
                             at=AT + timedelta(days=1)).person
    assert (withdrawn.consent, withdrawn.consent_at) == (False, (AT + timedelta(days=1)).isoformat())
    silent = merge_person(withdrawn, LeadContact(), lead_id="l-3", keys=("e:1",), person_id_if_new="x",
                          at=AT + timedelta(days=2)).person
    assert silent.consent is False  # a form that did not ask changes nothing
    backfilled = merge_person(withdrawn, LeadContact(consent=True), lead_id="l-0", keys=("e:1",),
                              person_id_if_new="x", at=AT - timedelta(days=9)).person
    assert backfilled.consent is False  # an older lead (a CSV back-fill) never overrides a newer answer


class Recording:
    name: ClassVar[str] = "scoring"
    events: ClassVar[tuple[type[Contract], ...]] = (LeadReceived,)

    def __init__(self) -> None:
        self.handled: list[str] = []

    async def __call__(self, event: Contract, envelope: Envelope, uow: object) -> None:
        self.handled.append(envelope.id)


def an_event(lead_id: str) -> Envelope:
    event = LeadReceived(lead_id=lead_id, source="web", received_at=AT, contact=LeadContact(email="a@example.cn"),
                         identity_keys=["e:1"])
    return Envelope.wrap(event, source="test", subject=lead_id, key="e:1", correlation_id="c", time=AT)


async def test_the_consumer_skips_erased_events_without_dead_lettering_them():
    store = MemoryStore(lambda: AT)
    erased, kept = an_event("l-1"), an_event("l-2")
    async with store.transaction() as uow:
        await uow.outbox.emit(erased)
        await uow.outbox.emit(kept)
        assert await uow.privacy.erase_events(["e:1"]) == 2
        await uow.outbox.emit(an_event("l-3"))
    latest = store.emitted[-1].envelope()
    handler = Recording()
    runner = ConsumerRunner(ConsumerSpec("scoring", (topics.LEAD_RECEIVED,), handler), bus=None,  # type: ignore[arg-type]
                            store=store, metrics=Metrics())
    # The embedded log hands out the tombstone; a Kafka topic still has the original.
    await runner.process(Delivery(topics.LEAD_RECEIVED, "erased", event_tombstone(erased.id), 0, 1))
    await runner.process(Delivery(topics.LEAD_RECEIVED, "e:1", kept.to_bytes(), 0, 2))
    await runner.process(Delivery(topics.LEAD_RECEIVED, "e:1", latest.to_bytes(), 0, 3))
    assert handler.handled == [latest.id]
    async with store.read() as uow:
        assert await uow.inbox.dead_letters() == []
