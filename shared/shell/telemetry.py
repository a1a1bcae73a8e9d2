"""Where spans go: OTLP over HTTP when an endpoint is configured, nowhere otherwise.

Traces are on when ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``)
is set, and ``OTEL_SDK_DISABLED`` is not ``true``. The exporter and the batch processor read the
other standard variables themselves (``OTEL_EXPORTER_OTLP_HEADERS``, ``OTEL_BSP_SCHEDULE_DELAY``,
``OTEL_TRACES_SAMPLER``, …). Off, no SDK is loaded and every span is the API's no-op one.

The provider is the runtime's own, not the process-wide global: two runtimes in one process (the
tests) keep their spans apart.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from opentelemetry.trace import Tracer

from leadrelay.shared.tracing import NO_TRACER

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

log = logging.getLogger(__name__)

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
FLUSH_TIMEOUT_MS = 5000


def traces_wanted(environ: Mapping[str, str]) -> bool:
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    return any(environ.get(name, "").strip() for name in ENDPOINT_VARIABLES)


def otlp_tracer_provider(service_name: str, environ: Mapping[str, str]) -> TracerProvider | None:
    """An SDK tracer provider exporting in batches over OTLP/HTTP, or None when traces are off.
    ``service_name`` names the process unless ``OTEL_SERVICE_NAME`` does."""
    if not traces_wanted(environ):
        return None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    named = {} if environ.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: service_name}
    provider = TracerProvider(resource=Resource.create(named))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    log.info("exporting traces over OTLP/HTTP", extra={"service": service_name})
    return provider


def tracing_for(provider: TracerProvider | None) -> tuple[Tracer, Callable[[], object]]:
    """The runtime's tracer and flush for ``provider`` (an SDK ``TracerProvider``), or the no-op
    tracer and a flush with nothing to do."""
    if provider is None:
        return NO_TRACER, lambda: None
    return provider.get_tracer("leadrelay"), lambda: provider.force_flush(FLUSH_TIMEOUT_MS)
