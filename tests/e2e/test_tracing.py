"""Traces in embedded mode: one lead is one trace, intake → scoring → routing → notify → send.

The runtime gets an SDK tracer provider with the in-memory exporter (its own, not the process's
global one), the real embedded pipeline (SQLite log and store) and the fake Slack. The trace's
shape is read from the finished spans: names, kinds, one trace id, each hop the child of the one
before it, the attributes an operator filters on, and no contact detail anywhere in a span.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from sqlalchemy import select

from leadrelay.shared.adapters.sql import schema
from leadrelay.shared.events import Envelope, LeadContact, LeadReceived
from leadrelay.shared.identity import identity_keys
from leadrelay.shared.settings import Settings
from leadrelay.shared.shell.bootstrap import build_runtime, create_source
from tests.conftest import Pipeline, start_pipeline, stop_pipeline
from tests.e2e.test_pipeline import wait_for_messages
from tests.platforms.fake_chat import FakeChat
from tests.platforms.test_ad_webhooks import GOOGLE_LEAD

HOPS = ("intake.accept", "scoring.handle", "router.handle", "notifier.handle", "notifier.send")
EMAIL = "wang.fang@bigfactory.cn"
PHONE = "+8613800138000"
LEAD = {"email": EMAIL, "phone": PHONE, "name": "Wang Fang", "company": "Big Factory", "title": "CTO",
        "employees": 2000, "country": "CN", "industry": "manufacturing"}


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    finished = InMemorySpanExporter()
    yield finished
    finished.clear()


@pytest.fixture
async def traced_pipeline(tmp_path: Path, chat: FakeChat, exporter: InMemorySpanExporter):
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    settings = Settings(data_dir=tmp_path / "data", public_url="http://leadrelay.test")
    running = await start_pipeline(build_runtime(settings, tracer_provider=provider), chat, embedded=True)
    yield running[0]
    await stop_pipeline(*running)
    provider.shutdown()


def spans_of(exporter: InMemorySpanExporter, lead_id: str) -> dict[str, list[ReadableSpan]]:
    found: dict[str, list[ReadableSpan]] = {}
    for span in exporter.get_finished_spans():
        if (span.attributes or {}).get("leadrelay.lead_id") == lead_id:
            found.setdefault(span.name, []).append(span)
    return found


async def wait_for_spans(exporter: InMemorySpanExporter, lead_id: str, names: tuple[str, ...],
                         timeout: float = 15.0) -> dict[str, list[ReadableSpan]]:
    """The lead's finished spans once each of ``names`` has ended (the send span ends after the
    chat answered and the delivery was marked sent)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        found = spans_of(exporter, lead_id)
        if all(name in found for name in names):
            return found
        assert asyncio.get_running_loop().time() < deadline, f"spans of {lead_id}: {sorted(found)}, want {names}"
        await asyncio.sleep(0.05)


def every_text_in(span: ReadableSpan) -> list[str]:
    """Every string a span carries: name, status, attributes, events' and links' attributes, resource."""
    values: list[object] = [span.name, span.status.description or ""]
    attribute_sets = [span.attributes or {}, span.resource.attributes]
    attribute_sets += [event.attributes or {} for event in span.events]
    attribute_sets += [link.attributes or {} for link in span.links]
    for attributes in attribute_sets:
        for key, value in attributes.items():
            values.append(key)
            values.extend(value if isinstance(value, list | tuple) else [value])
    return [str(value) for value in values]


async def test_one_lead_is_one_trace_from_the_202_to_the_chat_message(traced_pipeline: Pipeline, chat: FakeChat,
                                                                     exporter: InMemorySpanExporter):
    response = await traced_pipeline.post_lead(LEAD)
    assert response.status_code == 202
    lead_id = response.json()["lead_id"]
    await wait_for_messages(chat, lead_id, 1)
    lead = await traced_pipeline.wait_for(lead_id)
    found = await wait_for_spans(exporter, lead_id, HOPS)
    # The notifier's group also reads lead.qualified (webhook subscriptions to person.merged):
    # the chat hop is its handling of lead.assigned.
    found["notifier.handle"] = [span for span in found["notifier.handle"]
                                if span.attributes.get("messaging.destination.name") == "lead.assigned"]

    assert {name: len(found[name]) for name in HOPS} == {name: 1 for name in HOPS}
    accept, scoring, routing, notify, send = (found[name][0] for name in HOPS)
    # Every span about the lead, other consumers' of its events too, is in the one trace.
    assert {span.context.trace_id for spans in found.values() for span in spans} == {accept.context.trace_id}
    # Each hop is the child of the one before it; the accept span begins the trace.
    assert accept.parent is None
    for parent, child in ((accept, scoring), (scoring, routing), (routing, notify), (notify, send)):
        assert child.parent is not None and child.parent.span_id == parent.context.span_id, child.name
    assert [span.kind for span in (accept, scoring, routing, notify, send)] == [
        SpanKind.PRODUCER, SpanKind.CONSUMER, SpanKind.CONSUMER, SpanKind.CONSUMER, SpanKind.CLIENT]
    assert all(span.status.status_code is not StatusCode.ERROR for span in (accept, scoring, routing, notify, send))

    assert accept.attributes["leadrelay.source"] == "web"
    assert accept.attributes["leadrelay.replayed"] is False
    assert scoring.attributes["leadrelay.grade"] == lead["grade"] == "hot"
    assert scoring.attributes["messaging.destination.name"] == "lead.received"
    assert routing.attributes["leadrelay.rule"] == lead["decision"]["rule"] == "hot-enterprise"
    assert routing.attributes["leadrelay.rep_id"] == lead["owner"]
    assert routing.attributes["leadrelay.policy_version"] == lead["policy_version"]
    assert tuple(notify.attributes["leadrelay.recipients"]) == (lead["owner"],)
    assert send.attributes["leadrelay.platform"] == "slack"
    assert send.attributes["leadrelay.rep_id"] == lead["owner"]
    assert send.attributes["leadrelay.outcome"] == "sent"
    assert send.attributes["http.response.status_code"] == 200

    # No contact detail in any span of the process, in any form we know it by.
    forbidden = {EMAIL, EMAIL.split("@")[0], PHONE, PHONE.lstrip("+"), "13800138000", "Wang Fang"}
    texts = [text for span in exporter.get_finished_spans() for text in every_text_in(span)]
    assert texts and not [text for text in texts if any(secret in text for secret in forbidden)]


async def test_the_events_carry_the_trace_context_and_an_event_without_one_starts_a_trace(
        traced_pipeline: Pipeline, chat: FakeChat, exporter: InMemorySpanExporter):
    response = await traced_pipeline.post_lead({"email": "trace-2@example.com"})
    traced_id = response.json()["lead_id"]
    # Routed first: the notifier's group also reads lead.qualified (for webhooks), so its first
    # span for the lead can come before the router's event.
    await traced_pipeline.wait_for(traced_id)
    found = await wait_for_spans(exporter, traced_id, ("router.handle", "notifier.handle"))
    async with traced_pipeline.runtime.store.read() as uow:
        rows = (await uow.tx.conn.execute(select(schema.outbox.c.payload))).scalars().all()
    envelopes = [Envelope.from_bytes(bytes(row)) for row in rows]
    of_lead = {e.type: e for e in envelopes if e.subject == traced_id}
    assert set(of_lead) == {"lead.received.v1", "lead.qualified.v1", "lead.assigned.v1"}
    # Each event names the span that emitted it, in W3C form.
    trace_id = f"{found['notifier.handle'][0].context.trace_id:032x}"
    emitted_by = {"lead.received.v1": "intake.accept", "lead.qualified.v1": "scoring.handle",
                  "lead.assigned.v1": "router.handle"}
    for event_type, span_name in emitted_by.items():
        span = spans_of(exporter, traced_id)[span_name][0]
        flags = f"{span.context.trace_flags:02x}"
        assert of_lead[event_type].traceparent == f"00-{trace_id}-{span.context.span_id:016x}-{flags}", event_type

    # An event from before traces (no traceparent): handled, its handling the root of a new trace.
    runtime = traced_pipeline.runtime
    now = runtime.clock()
    contact = LeadContact(email="old-event@example.com")
    keys = identity_keys(contact.email, None, "web", "old-1", runtime.settings.identity_salt)
    old = Envelope.wrap(LeadReceived(lead_id="old-event-lead", source="web", received_at=now, contact=contact,
                                     identity_keys=list(keys)),
                        source="leadrelay/intake/web", subject="old-event-lead", key=keys[0],
                        correlation_id="old-event-lead", time=now)
    assert b"traceparent" not in old.to_bytes()  # no span current here: nothing was added
    await runtime.bus.publish(old)
    await traced_pipeline.wait_for("old-event-lead")
    old_spans = await wait_for_spans(exporter, "old-event-lead", ("scoring.handle", "router.handle"))
    scoring = old_spans["scoring.handle"][0]
    assert scoring.parent is None
    assert old_spans["router.handle"][0].context.trace_id == scoring.context.trace_id != int(trace_id, 16)


async def test_an_ad_platform_lead_is_traced_under_its_webhook_delivery(traced_pipeline: Pipeline, chat: FakeChat,
                                                                       exporter: InMemorySpanExporter):
    await create_source(traced_pipeline.runtime, "google", "google_ads", {"google_key": "my-secret-key"})
    response = await traced_pipeline.client.post("/v1/sources/google-ads/webhook", json=GOOGLE_LEAD)
    assert response.status_code == 200
    lead_id = response.json()["lead_id"]
    found = await wait_for_spans(exporter, lead_id, HOPS)
    webhooks = [s for s in exporter.get_finished_spans() if s.name == "intake.webhook"]
    assert len(webhooks) == 1
    webhook, accept = webhooks[0], found["intake.accept"][0]
    assert webhook.kind is SpanKind.SERVER and webhook.parent is None
    assert webhook.attributes["leadrelay.platform"] == "google_ads"
    assert webhook.attributes["leadrelay.source"] == "google"
    assert accept.parent is not None and accept.parent.span_id == webhook.context.span_id
    assert accept.attributes["leadrelay.source_kind"] == "google_ads"
    assert {span.context.trace_id for spans in found.values() for span in spans} == {webhook.context.trace_id}
    texts = [text for span in exporter.get_finished_spans() for text in every_text_in(span)]
    assert not [t for t in texts if "li.lei" in t or "13800138000" in t or "Li Lei" in t]


async def test_without_an_exporter_events_are_byte_for_byte_what_they_were(tmp_path: Path, chat: FakeChat):
    settings = Settings(data_dir=tmp_path / "data", public_url="http://leadrelay.test")
    runtime = build_runtime(settings)
    assert not runtime.tracer.start_span("probe").is_recording()
    pipeline, stop, task = await start_pipeline(runtime, chat, embedded=True)
    try:
        response = await pipeline.post_lead({"email": "untraced@example.com"})
        await wait_for_messages(chat, response.json()["lead_id"], 1)
        async with runtime.store.read() as uow:
            payloads = [bytes(p) for p in (await uow.tx.conn.execute(select(schema.outbox.c.payload))).scalars()]
            messages = [row.message for row in await uow.deliveries.for_lead(response.json()["lead_id"])]
    finally:
        await stop_pipeline(pipeline, stop, task)
    assert len(payloads) >= 3 and not [p for p in payloads if b"traceparent" in p or b"tracestate" in p]
    assert messages and not [m for m in messages if "trace_context" in m]
