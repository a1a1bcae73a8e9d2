"""A limit on every request body, held while the body streams in: no route ever holds more of a
body than its limit, whoever sends it and whatever the route does with it.

Without it a route reads its whole body before it can refuse it: FastAPI parses a declared model
before any dependency (authentication included) runs, and a webhook must read its raw bytes to
check their signature. Four unauthenticated 64 MB posts then cost the process hundreds of MB.

``BodyLimitMiddleware``, installed by the app factory in front of every route:
- answers a declared ``Content-Length`` over the limit with 413 before a byte is read;
- counts the bytes as the route reads them, and the read that goes over the limit raises
  ``BodyTooLarge`` in the route instead of returning more: whatever the route answers then
  (FastAPI turns a failed body read into a 400) is replaced by a 413, as long as the route had
  not started its response. What was not read is left to the server, which discards it.

Every route gets ``Settings.max_body_bytes``; a route whose senders need more names a larger
limit, a Settings field, with ``@body_limit("max_webhook_body_bytes")`` under its route decorator.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from leadrelay.shared.problems import PayloadTooLarge
from leadrelay.shared.settings import Settings
from leadrelay.shared.web.errors import problem_response

Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])

_LIMIT_SETTING = "__leadrelay_body_limit__"


def body_limit(setting: str) -> Callable[[Endpoint], Endpoint]:
    """Marks a route endpoint whose body may be as large as the Settings field ``setting`` says,
    instead of ``max_body_bytes``. Put it under the route decorator."""
    if setting not in Settings.model_fields:
        raise ValueError(f"body_limit names {setting!r}, which is not a Settings field")

    def mark(endpoint: Endpoint) -> Endpoint:
        setattr(endpoint, _LIMIT_SETTING, setting)
        return endpoint

    return mark


@dataclass(frozen=True)
class RouteLimit:
    """The body limit of one route (its methods and path pattern) that differs from the default."""

    methods: frozenset[str]
    path: re.Pattern[str]
    max_bytes: int


def route_limits(routers: Iterable[APIRouter], settings: Settings) -> list[RouteLimit]:
    """The limits the routes of ``routers`` name with ``body_limit``, read from ``settings``.
    The routers must be included without a prefix (their paths are matched as declared)."""
    limits = []
    for router in routers:
        for route in router.routes:
            setting = getattr(getattr(route, "endpoint", None), _LIMIT_SETTING, None)
            if isinstance(route, APIRoute) and setting is not None:
                limits.append(RouteLimit(frozenset(route.methods), route.path_regex, getattr(settings, setting)))
    return limits


class BodyTooLarge(PayloadTooLarge):
    """Raised to a route by a read that takes its body over the limit: the route gets no more."""


def too_large(max_bytes: int) -> BodyTooLarge:
    return BodyTooLarge(f"The body is over {max_bytes} bytes.", errors=[{"field": "body", "reason": "too large"}])


def declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            return int(value) if value.strip().isdigit() else None
    return None


class BodyLimitMiddleware:
    """Holds each request's body to its route's limit (see the module docstring)."""

    def __init__(self, app: ASGIApp, *, default_bytes: int, routes: Sequence[RouteLimit] = ()) -> None:
        self.app = app
        self.default_bytes = default_bytes
        self.routes = tuple(routes)

    def limit_for(self, scope: Scope) -> int:
        path = scope["path"]
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root):]
        for route in self.routes:
            if scope["method"] in route.methods and route.path.match(path):
                return route.max_bytes
        return self.default_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope)
        length = declared_length(scope)
        if length is not None and length > limit:
            await self.refuse(scope, receive, send, limit)
            return

        received = 0
        exceeded = False
        started = False  # the route's response began before the body went over (then it stands)

        async def limited_receive() -> Message:
            nonlocal received, exceeded
            if exceeded:
                raise too_large(limit)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise too_large(limit)
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded and not started:
                return  # the 413 is sent instead, below
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            # However the route failed once its read was cut off (our exception, or whatever it
            # became on the way up), the answer is the 413.
            if not exceeded or started:
                raise
        if exceeded and not started:
            await self.refuse(scope, receive, send, limit)

    async def refuse(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        response = problem_response(Request(scope), too_large(limit))
        await response(scope, receive, send)
