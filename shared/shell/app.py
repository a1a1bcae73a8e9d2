"""The app factory: one FastAPI app with the services' routes, problem+json errors, and the
operations routes (metrics, liveness, readiness)."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from leadrelay.shared.problems import PROBLEM_JSON
from leadrelay.shared.runtime import Runtime
from leadrelay.shared.web.deps import MetricsDep, StoreDep
from leadrelay.shared.web.errors import install_problem_handlers


def ops_router() -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/metrics", include_in_schema=False)
    async def metrics(metrics: MetricsDep) -> Response:
        """Prometheus metrics."""
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        """The process is alive."""
        return {"status": "ok"}

    @router.get("/readyz")
    async def readyz(store: StoreDep) -> Response:
        """The process can reach its database."""
        try:
            async with store.read() as uow:
                await uow.policies.current()
        except Exception:
            return problem_response_plain(503, "database unreachable")
        return JSONResponse({"status": "ready"})

    return router


def problem_response_plain(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"type": "about:blank", "title": "Not ready", "status": status, "detail": detail},
                        status_code=status, media_type=PROBLEM_JSON)


def create_app(runtime: Runtime, routers: Sequence[APIRouter]) -> FastAPI:
    app = FastAPI(title="Leadrelay", version="0.1.0", description="Event-driven, SLA-aware lead routing.")
    app.state.runtime = runtime
    install_problem_handlers(app)
    app.include_router(ops_router())
    for router in routers:
        app.include_router(router)
    return app
