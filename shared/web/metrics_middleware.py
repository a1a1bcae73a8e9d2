"""HTTP request metrics: every answer counted by route template, method and status, and timed.

``leadrelay_http_requests_total`` is the source of the intake availability SLO (the share of
lead posts, ``POST /v1/leads`` and the ad platforms' webhooks, answered without a 5xx;
docs/operations.md). A plain ASGI middleware, not Starlette's ``BaseHTTPMiddleware``: it only
watches the ``http.response.start`` message go by, so streamed bodies and background tasks
behave as they would without it.
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from leadrelay.shared.metrics import Metrics

# Methods a client makes up would each become a label value; they are counted as "other".
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Requests no route handled (404s, scanners): one label value, not one per URL tried.
UNMATCHED = "unmatched"


class HttpMetricsMiddleware:
    """Counts and times each HTTP request. An exception that escapes the app before a response
    started is counted as the 500 that Starlette's outermost error handler answers."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status: int | None = None

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception:
            self._observe(scope, status or 500, started)
            raise
        self._observe(scope, status or 500, started)

    def _observe(self, scope: Scope, status: int, started: float) -> None:
        route, method = route_template(scope), scope["method"] if scope["method"] in METHODS else "other"
        self.metrics.http_requests.labels(route, method, str(status)).inc()
        self.metrics.http_request_seconds.labels(route, method).observe(time.perf_counter() - started)


def route_template(scope: Scope) -> str:
    """The matched route's path template (``/v1/leads/{lead_id}``): the router records the route
    it picked in the scope, which is the same dict this middleware passed down. A request no
    route handled is ``unmatched``: a 404, or one an inner middleware refused before routing
    (a body whose declared size is over the limit)."""
    path = getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) and path else UNMATCHED
