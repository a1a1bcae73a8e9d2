"""Every error as RFC 9457 problem details (``application/problem+json``), naming the field."""

from __future__ import annotations

import logging
import uuid

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from leadrelay.shared.ports import StoreUnavailable
from leadrelay.shared.problems import PROBLEM_JSON, InvalidField, NotFound, Problem, ServiceUnavailable

log = logging.getLogger(__name__)


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

    @app.exception_handler(StoreUnavailable)
    async def _store_unavailable(request: Request, exc: StoreUnavailable) -> JSONResponse:
        log.warning("database unavailable", extra={"path": request.url.path})
        return problem_response(request, ServiceUnavailable("The database is unavailable; retry later.",
                                                            headers={"Retry-After": "5"}))

    @app.exception_handler(Exception)
    async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", extra={"path": request.url.path})
        return problem_response(request, Problem("Internal error.", status=500))
