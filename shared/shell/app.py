"""The app factory: one FastAPI app with the services' routes, problem+json errors, and the
operations routes (metrics, liveness, readiness)."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from leadrelay.shared.problems import ServiceUnavailable
from leadrelay.shared.runtime import Runtime
from leadrelay.shared.web.body_limit import BodyLimitMiddleware, route_limits
from leadrelay.shared.web.deps import MetricsDep, StoreDep
from leadrelay.shared.web.errors import install_problem_handlers, problem_response
from leadrelay.shared.web.metrics_middleware import HttpMetricsMiddleware
from leadrelay.shared.web.openapi import install_openapi


def ops_router() -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/metrics", response_class=PlainTextResponse, responses={200: {
        "description": "The Prometheus text exposition format.",
        "content": {"text/plain": {"schema": {"type": "string"}}}}})
    async def metrics(metrics: MetricsDep) -> Response:
        """Prometheus metrics."""
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        """The process is alive."""
        return {"status": "ok"}

    @router.get("/readyz", responses={200: {"description": "Ready.", "content": {"application/json": {
        "schema": {"type": "object", "properties": {"status": {"const": "ready"}}, "required": ["status"]}}}}})
    async def readyz(request: Request, store: StoreDep) -> Response:
        """The process can reach its database (200), or it cannot (503, problem+json)."""
        try:
            async with store.read() as uow:
                await uow.policies.current()
        except Exception:
            return problem_response(request, ServiceUnavailable("The database is unreachable.",
                                                                headers={"Retry-After": "5"}))
        return JSONResponse({"status": "ready"})

    return router


def create_app(runtime: Runtime, routers: Sequence[APIRouter]) -> FastAPI:
    """The app over ``routers`` (included as they are, without a prefix). Every request body is
    held to its limit while it streams in (``LEADRELAY_MAX_BODY_BYTES``, or the larger limit a
    route names), and every error is problem+json."""
    app = FastAPI(title="Leadrelay", version="0.1.0", description="Event-driven, SLA-aware lead routing.")
    app.state.runtime = runtime
    install_problem_handlers(app)
    install_openapi(app)  # every operation's problem+json answers, declared
    # The last added is the outermost: the metrics also count the body limit's 413s.
    app.add_middleware(BodyLimitMiddleware, default_bytes=runtime.settings.max_body_bytes,
                       routes=route_limits(routers, runtime.settings))
    app.add_middleware(HttpMetricsMiddleware, metrics=runtime.metrics)
    app.include_router(ops_router())
    for router in routers:
        app.include_router(router)
    return app
