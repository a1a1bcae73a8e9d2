"""Traces in distributed mode: a trace for one lead spans all four services.

``serve intake|scoring|router|notifier`` run as real processes on Kafka and a scratch PostgreSQL
database (topics under a prefix of their own), each exporting over OTLP/HTTP to a local receiver
this test runs: it decodes what a collector decodes (``application/x-protobuf``
``ExportTraceServiceRequest``, optionally gzipped) and answers as one does. One lead is posted to
intake over HTTP; the spans that arrive must name the four services (``service.name``), share one
trace id, and link each hop to the one before it, across the process boundaries. The Kafka
record of the lead's first event carries the same ``traceparent`` header as its envelope.
"""

from __future__ import annotations

import gzip
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from leadrelay.shared import topics
from leadrelay.shared.adapters.kafka_bus import KafkaBus
from leadrelay.shared.events import Envelope
from tests.conftest import chat_messages_for, infra
from tests.ops.test_prometheus_scrape import (
    Processes,
    distributed_database,
    eventually,
    free_port,
    leadrelay,
)
from tests.platforms.fake_chat import FakeChat

pytestmark = [pytest.mark.slow, pytest.mark.kafka, pytest.mark.postgres, pytest.mark.timeout(240)]

SERVICES = ("intake", "scoring", "router", "notifier")
HOPS = {"intake.accept": "leadrelay-intake", "scoring.handle": "leadrelay-scoring",
        "router.handle": "leadrelay-router", "notifier.handle": "leadrelay-notifier",
        "notifier.send": "leadrelay-notifier"}
START_TIMEOUT_S = 60.0
TRACE_TIMEOUT_S = 90.0


@dataclass(frozen=True)
class ReceivedSpan:
    service: str
    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    attributes: dict[str, Any]


def plain(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [plain(item) for item in value.array_value.values]
    return getattr(value, kind) if kind else None


class OtlpReceiver:
    """An OTLP/HTTP traces endpoint (``POST /v1/traces``) that keeps every span it is sent."""

    def __init__(self) -> None:
        self.spans: list[ReceivedSpan] = []
        self.refused: list[str] = []
        self.lock = threading.Lock()

    def take(self, content_type: str, encoding: str, body: bytes) -> int:
        if content_type.split(";")[0].strip() != "application/x-protobuf":
            self.refused.append(f"content-type {content_type!r}")
            return 415
        request = ExportTraceServiceRequest.FromString(gzip.decompress(body) if encoding == "gzip" else body)
        received = []
        for resource_spans in request.resource_spans:
            resource = {a.key: plain(a.value) for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    received.append(ReceivedSpan(
                        service=resource.get("service.name", ""), name=span.name, trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(), parent_span_id=span.parent_span_id.hex(),
                        attributes={a.key: plain(a.value) for a in span.attributes}))
        with self.lock:
            self.spans.extend(received)
        return 200

    def snapshot(self) -> list[ReceivedSpan]:
        with self.lock:
            return list(self.spans)

    @contextmanager
    def serve(self) -> Iterator[str]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status = 404 if self.path != "/v1/traces" else receiver.take(
                    self.headers.get("Content-Type", ""), self.headers.get("Content-Encoding", ""), body)
                answer = ExportTraceServiceResponse().SerializeToString() if status == 200 else b""
                self.send_response(status)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
                return None

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}"
        finally:
            server.shutdown()
            server.server_close()


def trace_of(spans: list[ReceivedSpan], lead_id: str) -> dict[str, ReceivedSpan]:
    """The lead's spans by name, from the trace its intake span began."""
    roots = [s for s in spans if s.name == "intake.accept" and s.attributes.get("leadrelay.lead_id") == lead_id]
    if not roots:
        return {}
    trace_id = roots[0].trace_id
    return {s.name: s for s in spans if s.trace_id == trace_id}


async def record_of(bootstrap: str, prefix: str, lead_id: str) -> tuple[Envelope, dict[str, bytes]]:
    """The lead's ``lead.received`` record as our Kafka subscription delivers it (a group of its
    own, from the start): its envelope and its headers."""
    subscription = KafkaBus(bootstrap, prefix=prefix).subscribe(f"trace-check-{uuid.uuid4().hex[:8]}",
                                                                [topics.LEAD_RECEIVED])
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            for delivery in await subscription.poll(timeout_s=0.5):
                envelope = Envelope.from_bytes(delivery.payload)
                if envelope.subject == lead_id:
                    return envelope, dict(delivery.headers)
        raise AssertionError(f"no lead.received record of {lead_id}")
    finally:
        await subscription.close()


async def test_a_trace_for_one_lead_spans_all_four_services(tmp_path: Path, chat: FakeChat):
    receiver = OtlpReceiver()
    processes = Processes(tmp_path)
    async with distributed_database(chat) as (env, key), httpx.AsyncClient(timeout=10) as http:
        with receiver.serve() as endpoint:
            try:
                # Export promptly: the batch processor's delay is 5 s by default.
                traced_env = {**env, "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_BSP_SCHEDULE_DELAY": "100"}
                intake_port = free_port()
                processes.start("intake", leadrelay("serve", "intake"),
                                {**traced_env, "LEADRELAY_PORT": str(intake_port)})
                for service in SERVICES[1:]:
                    processes.start(service, leadrelay("serve", service), traced_env)
                intake = f"http://127.0.0.1:{intake_port}"

                async def ready() -> int:
                    return (await http.get(f"{intake}/readyz")).status_code

                await eventually(ready, lambda status: status == 200, "intake not ready", START_TIMEOUT_S, processes)
                response = await http.post(f"{intake}/v1/leads", headers={"Authorization": f"Bearer {key}"},
                                           json={"email": f"trace-{uuid.uuid4().hex[:6]}@bigfactory.cn",
                                                 "phone": "+8613800138000", "title": "CTO", "employees": 2000,
                                                 "country": "CN", "industry": "manufacturing"})
                assert response.status_code == 202, response.text
                lead_id = response.json()["lead_id"]

                async def lead_trace() -> dict[str, ReceivedSpan]:
                    return trace_of(receiver.snapshot(), lead_id)

                found = await eventually(lead_trace, lambda spans: set(HOPS) <= set(spans),
                                         "the lead's trace not complete", TRACE_TIMEOUT_S, processes)
                assert chat_messages_for(chat, lead_id)
                assert receiver.refused == []

                # One trace across four processes, each hop under its service's name...
                assert {name: found[name].service for name in HOPS} == HOPS
                assert {found[name].service for name in HOPS} == {f"leadrelay-{s}" for s in SERVICES}
                about_lead = [s for s in receiver.snapshot() if s.attributes.get("leadrelay.lead_id") == lead_id]
                assert {s.trace_id for s in about_lead} == {found["intake.accept"].trace_id}
                # ...and each the child of the hop before it, though that ran in another process.
                chain = list(HOPS)
                assert found["intake.accept"].parent_span_id == ""
                for parent, child in zip(chain, chain[1:], strict=False):
                    assert found[child].parent_span_id == found[parent].span_id, f"{child} not under {parent}"
                assert found["router.handle"].attributes["leadrelay.rule"] == "hot-enterprise"
                assert found["notifier.send"].attributes["leadrelay.outcome"] == "sent"

                # The Kafka record repeats the envelope's trace context in its headers.
                envelope, headers = await record_of(infra("LEADRELAY_TEST_KAFKA"), env["LEADRELAY_TOPIC_PREFIX"],
                                                    lead_id)
                assert envelope.traceparent is not None
                assert envelope.traceparent.split("-")[2] == found["intake.accept"].span_id
                assert headers.get("traceparent") == envelope.traceparent.encode()
            finally:
                processes.stop_all()


def test_the_receiver_refuses_what_a_collector_refuses():
    receiver = OtlpReceiver()
    assert receiver.take("application/json", "", b"{}") == 415
    empty = gzip.compress(ExportTraceServiceRequest().SerializeToString())
    assert receiver.take("application/x-protobuf", "gzip", empty) == 200
    assert receiver.snapshot() == []
