"""Strict request content types: a JSON body comes as ``application/json`` (or a JSON type its route
declares), in UTF-8, or it is refused with 415 naming ``Content-Type``.

Lenient matching (anything ending in ``+json``, any charset) lets a client send bytes we then read
as something they are not: ``application/evil+json`` is not a type any route declares, and a body
labelled ``charset=latin-1`` would be decoded as UTF-8 regardless. JSON (RFC 8259) is UTF-8 on the
wire and ``application/json`` takes no parameters; ``charset=utf-8`` is tolerated because many
clients send it.

Routes that read their own body call ``require_media_type`` (after authenticating, so the order of
their answers stays 401/403, 415, 413, 400, 422). Routes whose body FastAPI parses from a declared
model use ``JsonBodyRoute`` as their router's route class, which checks the type before FastAPI
reads the body.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from starlette.datastructures import Headers

from leadrelay.shared.problems import UnsupportedMediaType

JSON = "application/json"
# The only charset a JSON body may declare.
_UTF8 = {"utf-8", "utf8"}


def parse_content_type(header: str | None) -> tuple[str, dict[str, str]]:
    """Returns the media type (lower-cased, ``""`` when absent) and its parameters (names lower-cased,
    values unquoted)."""
    if not header:
        return "", {}
    media_type, *parts = header.split(";")
    params: dict[str, str] = {}
    for part in parts:
        name, _, value = part.partition("=")
        if name.strip():
            params[name.strip().lower()] = value.strip().strip('"')
    return media_type.strip().lower(), params


def require_media_type(header: str | None, accepted: Collection[str] = (JSON,)) -> str:
    """Returns the media type of ``header`` when it is one of ``accepted`` with at most a UTF-8
    charset; raises UnsupportedMediaType (415) naming ``Content-Type`` otherwise."""
    media_type, params = parse_content_type(header)
    expected = " or ".join(sorted(accepted))
    if media_type not in accepted:
        raise UnsupportedMediaType(
            f"Send the body as {expected} (got '{media_type or 'no Content-Type'}').",
            errors=[{"field": "Content-Type", "reason": f"must be {expected}"}])
    charset = params.pop("charset", "utf-8").lower()
    if charset not in _UTF8:
        raise UnsupportedMediaType(
            f"Send the body in UTF-8 ('{media_type}; charset=utf-8' or no charset), not {charset}.",
            errors=[{"field": "Content-Type", "reason": "charset must be utf-8"}])
    if params:
        raise UnsupportedMediaType(
            f"{media_type} takes no parameter but charset=utf-8 (got {', '.join(sorted(params))}).",
            errors=[{"field": "Content-Type", "reason": "unexpected parameter"}])
    return media_type


def has_body(headers: Headers) -> bool:
    """Whether the request says it carries a body (told by the headers, without reading it)."""
    length = headers.get("content-length")
    return (length is not None and length.strip() != "0") or "transfer-encoding" in headers


class JsonBodyRoute(APIRoute):
    """A route whose body FastAPI parses from a declared model, with the body's type checked before
    FastAPI reads it: a request that carries a body (or names a type) must be JSON. A request with
    neither passes, and FastAPI answers 422 for a body the route requires.

    Use it as the router's ``route_class``. Overriding ``get_route_handler`` is FastAPI's own hook
    for this ("custom APIRoute class"), and it holds however the router is included."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        if self.body_field is None:
            return handler
        accepted = frozenset(declared_json_types(self))

        async def checked(request: Request) -> Response:
            if has_body(request.headers) or "content-type" in request.headers:
                require_media_type(request.headers.get("content-type"), accepted)
            return await handler(request)

        return checked


def declared_json_types(route: APIRoute) -> set[str]:
    """The JSON types a route's FastAPI-parsed body accepts: ``application/json`` and the media type
    its body declares (``Body(media_type=…)``), when that is a JSON type."""
    accepted = {JSON}
    declared = getattr(getattr(route.body_field, "field_info", None), "media_type", None)
    if isinstance(declared, str):
        media_type, _ = parse_content_type(declared)
        if media_type == JSON or media_type.endswith("+json"):
            accepted.add(media_type)
    return accepted
