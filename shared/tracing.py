"""Traces: one lead is one trace, from intake's 202 to the rep's chat message.

Each hop is a span: ``intake.accept`` (and ``intake.webhook`` above it for ad platforms),
``scoring.handle``, ``router.handle``, ``notifier.handle`` and ``notifier.send``. The W3C trace
context crosses the bus inside the event: the envelope's ``traceparent``/``tracestate`` (the
CloudEvents distributed-tracing extension), copied into Kafka record headers; a queued chat
delivery keeps it beside its message. Only the OpenTelemetry API is used here; the shell decides
whether spans go anywhere (``shared.shell.telemetry``). Without an exporter the tracer is the
API's no-op one: spans cost next to nothing and no envelope changes, while a context that came
in with an event is still passed on to the events the handler emits.

Span attributes are ids and names (lead id, source, rule, rep id, platform), never contact
details; exceptions are recorded by type only, as their messages may quote what was posted.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import orjson
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from leadrelay.shared.events import Envelope

NO_TRACER: Tracer = trace.NoOpTracer()
TRACE_FIELDS = ("traceparent", "tracestate")
# Where a queued chat delivery keeps the trace context of the event that queued it: a key of its
# stored message that the message builders ignore.
TRACE_CONTEXT_KEY = "trace_context"
_propagator = TraceContextTextMapPropagator()


def current_trace_context() -> dict[str, str]:
    """The current span's W3C trace context (``traceparent``, and ``tracestate`` when there is
    one); empty when no span is current."""
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    return carrier


def context_from(carrier: Mapping[str, str | None]) -> Context:
    """The context a ``traceparent``/``tracestate`` pair names; an empty one (so a span started
    in it begins a new trace) when there is none or it is malformed."""
    return _propagator.extract({name: value for name, value in carrier.items() if name in TRACE_FIELDS and value})


def traced(envelope: Envelope) -> Envelope:
    """``envelope`` carrying the current span's context. Unchanged when no span is current (the
    JSON stays what it was before traces), or when it carries a context already (a replay keeps
    the trace it began in)."""
    if envelope.traceparent is not None:
        return envelope
    fields = current_trace_context()
    return envelope.model_copy(update=fields) if fields else envelope


def envelope_context(envelope: Envelope, headers: Sequence[tuple[str, bytes]] = ()) -> Context:
    """The context an event was emitted in: the envelope's fields, else its bus record's headers
    (a producer outside Leadrelay may set only those)."""
    if envelope.traceparent is not None:
        return context_from({"traceparent": envelope.traceparent, "tracestate": envelope.tracestate})
    return context_from({name: value.decode("latin-1") for name, value in headers if name in TRACE_FIELDS})


def trace_headers(payload: bytes) -> list[tuple[str, bytes]]:
    """The Kafka record headers that repeat a serialized envelope's trace context (for tooling
    that reads headers); none for an envelope without one, which is not even parsed."""
    if b'"traceparent"' not in payload:
        return []
    try:
        fields = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return []
    if not isinstance(fields, dict):
        return []
    return [(name, value.encode()) for name in TRACE_FIELDS if isinstance(value := fields.get(name), str)]


def attributes(**values: Any) -> dict[str, Any]:
    """``leadrelay.``-prefixed span attributes, without the unset ones. Ids and names only."""
    return {f"leadrelay.{name}": value for name, value in values.items() if value is not None}


def annotate(**values: Any) -> None:
    """Adds ``attributes(**values)`` to the current span (nothing when it does not record)."""
    span = trace.get_current_span()
    if span.is_recording():
        span.set_attributes(attributes(**values))


@contextmanager
def span(tracer: Tracer, name: str, *, kind: SpanKind = SpanKind.INTERNAL, context: Context | None = None,
         extra: Mapping[str, Any] | None = None, **values: Any) -> Iterator[Span]:
    """A current span named ``name`` with ``attributes(**values)`` (and ``extra`` as they are,
    for semantic-convention names). An exception marks it failed with its type name only."""
    with tracer.start_as_current_span(name, context=context, kind=kind, record_exception=False,
                                      set_status_on_exception=False) as current:
        if current.is_recording():
            current.set_attributes({**(extra or {}), **attributes(**values)})
        try:
            yield current
        except Exception as exc:
            fail(current, exc)
            raise


def fail(span: Span, exc: BaseException | str) -> None:
    """Marks ``span`` failed, saying what by an exception's type name (or ``exc`` as it is)."""
    if span.is_recording():
        span.set_status(Status(StatusCode.ERROR, exc if isinstance(exc, str) else type(exc).__name__))
