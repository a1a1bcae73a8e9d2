"""The HTTP edge shared by every service's routes: problem+json errors, auth, health, metrics."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.consumer import is_infrastructure_error
from shared.problems import PROBLEM_JSON, InvalidField, NotFound, Problem, ServiceUnavailable, Unauthorized
from shared.runtime import Runtime
from shared.security import SOURCE_KEY_PREFIX, TOKEN_PREFIX, Principal, hash_secret

log = logging.getLogger(__name__)


def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, credential = header.partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        raise Unauthorized(
            "Send a source API key or a token as 'Authorization: Bearer <key>'.",
            errors=[{"field": "Authorization", "reason": "missing bearer credential"}],
            headers={"WWW-Authenticate": "Bearer"},
        )
    return credential.strip()


async def authenticate(request: Request, runtime: RuntimeDep) -> Principal:
    credential = bearer(request)
    digest = hash_secret(credential)
    try:
        async with runtime.store.read() as uow:
            if credential.startswith(SOURCE_KEY_PREFIX):
                row = await uow.source_by_key_hash(digest)
                if row is not None:
                    return Principal(role="source", name=row.name)
            elif credential.startswith(TOKEN_PREFIX):
                row = await uow.token_by_hash(digest)
                if row is not None:
                    return Principal(role=row.role, name=row.rep_id, rep_id=row.rep_id)
    except Exception as exc:
        if not is_infrastructure_error(exc):
            raise
        raise ServiceUnavailable("The credential store is unavailable; retry later.",
                                 headers={"Retry-After": "5"}) from exc
    raise Unauthorized("Unknown or revoked credential.", errors=[{"field": "Authorization", "reason": "invalid key"}],
                       headers={"WWW-Authenticate": "Bearer"})


PrincipalDep = Annotated[Principal, Depends(authenticate)]


def problem_response(request: Request, problem: Problem) -> JSONResponse:
    trace_id = request.headers.get("x-request-id") or uuid.uuid4().hex
    return JSONResponse(
        problem.body(str(request.url.path), trace_id), status_code=problem.status,
        media_type=PROBLEM_JSON, headers=problem.headers,
    )


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's default echoes the submitted input: here that would be an email or phone.
        if any(e["type"] == "json_invalid" for e in exc.errors()):
            # Not a field's problem: the same answer intake gives a body that is not JSON.
            return problem_response(request, Problem("The body is not valid JSON.",
                                                     errors=[{"field": "body", "reason": "invalid JSON"}]))
        errors = [
            {"field": ".".join(str(p) for p in e["loc"] if p != "body") or "body", "reason": e["msg"]}
            for e in exc.errors()
        ]
        return problem_response(request, InvalidField(f"{errors[0]['field']}: {errors[0]['reason']}",
                                                      errors=errors))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            return problem_response(request, NotFound("No such resource."))
        return problem_response(request, Problem(str(exc.detail), status=exc.status_code))

    @app.exception_handler(Exception)
    async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", extra={"path": request.url.path})
        return problem_response(request, Problem("Internal error.", status=500))


def ops_router() -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/metrics", include_in_schema=False)
    async def metrics(runtime: RuntimeDep) -> Response:
        """Prometheus metrics."""
        return Response(generate_latest(runtime.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        """The process is alive."""
        return {"status": "ok"}

    @router.get("/readyz")
    async def readyz(runtime: RuntimeDep) -> Response:
        """The process can reach its database."""
        try:
            async with runtime.store.read() as uow:
                await uow.current_policy()
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
