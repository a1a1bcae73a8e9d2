"""Every error as RFC 9457 problem details (``application/problem+json``), naming the field."""

from __future__ import annotations

import logging
import uuid
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from leadrelay.shared.ports import StoreUnavailable
from leadrelay.shared.problems import (
    PROBLEM_JSON,
    InvalidField,
    NotFound,
    PayloadTooLarge,
    Problem,
    ServiceUnavailable,
    UnsupportedMediaType,
)

log = logging.getLogger(__name__)


def problem_response(request: Request, problem: Problem) -> JSONResponse:
    trace_id = request.headers.get("x-request-id") or uuid.uuid4().hex
    return JSONResponse(
        problem.body(str(request.url.path), trace_id), status_code=problem.status,
        media_type=PROBLEM_JSON, headers=problem.headers,
    )


def http_problem(exc: StarletteHTTPException) -> Problem:
    """The framework's own errors as problems naming what they are about."""
    status = exc.status_code
    if status == 404:
        return NotFound("No such resource.")
    if status == 400:
        # FastAPI's answer to a body it could not read as JSON (not UTF-8, nested too deep, …).
        return Problem("The body is not valid JSON.", errors=[{"field": "body", "reason": "invalid JSON"}])
    if status == 413:
        return PayloadTooLarge("The body is too large.", errors=[{"field": "body", "reason": "too large"}])
    if status == 415:
        return UnsupportedMediaType("Send the body as application/json.",
                                    errors=[{"field": "Content-Type", "reason": "must be application/json"}])
    problem = Problem(str(exc.detail), status=status, headers=dict(exc.headers or {}))
    try:
        problem.title = HTTPStatus(status).phrase  # e.g. "Method Not Allowed", not "Bad request"
    except ValueError:
        pass
    return problem


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
        if exc.status_code == 405:
            # Starlette's Allow names the methods of the first route matching the path only;
            # RFC 9110 §15.5.6 wants every method the resource supports (GET and PUT /v1/policy).
            exc = StarletteHTTPException(405, exc.detail, headers={**(exc.headers or {}),
                                                                   "Allow": allowed_methods(request)})
        return problem_response(request, http_problem(exc))

    @app.exception_handler(StoreUnavailable)
    async def _store_unavailable(request: Request, exc: StoreUnavailable) -> JSONResponse:
        log.warning("database unavailable", extra={"path": request.url.path})
        return problem_response(request, ServiceUnavailable("The database is unavailable; retry later.",
                                                            headers={"Retry-After": "5"}))

    @app.exception_handler(Exception)
    async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", extra={"path": request.url.path})
        return problem_response(request, Problem("Internal error.", status=500))


def allowed_methods(request: Request) -> str:
    """Every method of every route whose path matches the request's (``Allow`` for a 405)."""
    from leadrelay.shared.web.openapi import api_routes

    path = request.scope.get("path", "")
    methods: set[str] = set()
    for route in api_routes(request.app.routes):
        regex = getattr(route, "path_regex", None)
        if regex is not None and regex.match(path):
            methods |= set(getattr(route, "methods", None) or ())
    return ", ".join(sorted(methods))
