"""The trace-context helpers and the exporter switch, without a pipeline."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import get_current_span

from leadrelay.shared.events import Envelope, LeadContact, LeadReceived
from leadrelay.shared.shell.telemetry import otlp_tracer_provider
from leadrelay.shared.tracing import context_from, envelope_context, span, trace_headers, traced

PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def envelope(**trace: str) -> Envelope:
    at = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    lead = LeadReceived(lead_id="lead-1", source="web", received_at=at, contact=LeadContact(email="a@example.com"),
                        identity_keys=["k1"])
    wrapped = Envelope.wrap(lead, source="leadrelay/intake/web", subject="lead-1", key="k1", correlation_id="lead-1",
                            time=at, id="event-1")
    return wrapped.model_copy(update=trace)


def recording() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def test_an_envelope_without_trace_context_serializes_as_before_and_one_with_it_round_trips():
    plain = envelope()
    assert set(orjson.loads(plain.to_bytes())) == {"id", "type", "source", "time", "subject", "key",
                                                   "correlation_id", "data"}
    carried = envelope(traceparent=PARENT, tracestate="vendor=1")
    back = Envelope.from_bytes(carried.to_bytes())
    assert (back.traceparent, back.tracestate) == (PARENT, "vendor=1") and back == carried


def test_traced_adds_the_current_span_keeps_an_existing_context_and_adds_nothing_outside_a_span():
    provider, _ = recording()
    assert traced(envelope()) == envelope()
    with span(provider.get_tracer("t"), "hop") as current:
        added = traced(envelope())
        kept = traced(envelope(traceparent=PARENT))
    assert added.traceparent is not None
    assert added.traceparent.split("-")[1:3] == [f"{current.get_span_context().trace_id:032x}",
                                                 f"{current.get_span_context().span_id:016x}"]
    assert kept.traceparent == PARENT


def test_a_child_starts_under_the_envelopes_context_else_the_headers_and_a_malformed_one_starts_a_trace():
    provider, exporter = recording()
    tracer = provider.get_tracer("t")
    header = [("traceparent", PARENT.replace("b7ad6b7169203331", "00f067aa0ba902b7").encode())]
    for context in (envelope_context(envelope(traceparent=PARENT), header), envelope_context(envelope(), header),
                    context_from({"traceparent": "00-not-a-trace-context"}), envelope_context(envelope())):
        with span(tracer, "child", context=context):
            pass
    parents = [(s.context.trace_id, s.parent.span_id if s.parent else None) for s in exporter.get_finished_spans()]
    assert parents[0] == (0x0AF7651916CD43DD8448EB211C80319C, 0xB7AD6B7169203331)
    assert parents[1] == (0x0AF7651916CD43DD8448EB211C80319C, 0x00F067AA0BA902B7)
    assert parents[2][1] is None and parents[3][1] is None


def test_a_failed_span_says_the_exception_type_only():
    provider, exporter = recording()
    try:
        with span(provider.get_tracer("t"), "hop", lead_id="lead-1", rule=None):
            raise ValueError("value is not a valid email: someone@example.com")
    except ValueError:
        pass
    (finished,) = exporter.get_finished_spans()
    assert finished.status.description == "ValueError" and not finished.events
    assert dict(finished.attributes) == {"leadrelay.lead_id": "lead-1"}  # None values are left out
    assert not get_current_span().is_recording()


def test_kafka_headers_repeat_the_envelopes_context_and_nothing_else():
    assert trace_headers(envelope().to_bytes()) == []
    assert trace_headers(envelope(traceparent=PARENT).to_bytes()) == [("traceparent", PARENT.encode())]
    assert trace_headers(envelope(traceparent=PARENT, tracestate="v=1").to_bytes()) == [
        ("traceparent", PARENT.encode()), ("tracestate", b"v=1")]
    assert trace_headers(b'not json "traceparent"') == []


def test_traces_are_exported_only_when_an_endpoint_is_set():
    assert otlp_tracer_provider("leadrelay-scoring", {}) is None
    assert otlp_tracer_provider("leadrelay-scoring", {"OTEL_EXPORTER_OTLP_ENDPOINT": " "}) is None
    assert otlp_tracer_provider("leadrelay-scoring", {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9",
                                                      "OTEL_SDK_DISABLED": "true"}) is None
    provider = otlp_tracer_provider("leadrelay-scoring", {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:9"})
    try:
        assert provider is not None and provider.resource.attributes["service.name"] == "leadrelay-scoring"
    finally:
        if provider is not None:
            provider.shutdown()
