"""RFC 9457 problem details: every error a client sees names what went wrong and where."""

from __future__ import annotations

from typing import Any

PROBLEM_JSON = "application/problem+json"


class Problem(Exception):
    """An error with an HTTP meaning. ``errors`` lists ``{"field": …, "reason": …}`` entries."""

    status = 400
    title = "Bad request"
    type_slug = "bad-request"

    def __init__(self, detail: str, *, errors: list[dict[str, Any]] | None = None, status: int | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []
        if status is not None:
            self.status = status
        self.headers = headers or {}

    def body(self, instance: str, trace_id: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": f"https://leadrelay.dev/problems/{self.type_slug}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "instance": instance,
        }
        if self.errors:
            body["errors"] = self.errors
        if trace_id:
            body["trace_id"] = trace_id
        return body


class InvalidField(Problem):
    status = 422
    title = "Invalid field"
    type_slug = "invalid-field"


class Unauthorized(Problem):
    status = 401
    title = "Unauthorized"
    type_slug = "unauthorized"


class Forbidden(Problem):
    status = 403
    title = "Forbidden"
    type_slug = "forbidden"


class NotFound(Problem):
    status = 404
    title = "Not found"
    type_slug = "not-found"


class Conflict(Problem):
    status = 409
    title = "Conflict"
    type_slug = "conflict"


class PayloadTooLarge(Problem):
    status = 413
    title = "Payload too large"
    type_slug = "payload-too-large"


class UnsupportedMediaType(Problem):
    status = 415
    title = "Unsupported media type"
    type_slug = "unsupported-media-type"


class ServiceUnavailable(Problem):
    status = 503
    title = "Service unavailable"
    type_slug = "unavailable"
