"""OpenAPI for what FastAPI cannot see by itself: a JSON body a route reads on its own, and the
problem+json answers every route gives.

FastAPI documents a request body only when it parses that body itself, and it parses it before
any dependency runs. A route that must refuse early (authenticate first, cap the size while the
body streams in) reads the body in a dependency instead, and declares it with ``json_body`` from
the same pydantic model the dependency validates with, so the document cannot drift from what
the route accepts.

The schemas are written in place in the operation, as in FastAPI's "custom OpenAPI path operation
schema" recipe: a route can add to its own operation (``openapi_extra``, ``responses``) but not to
the document's ``components``, which only the app's ``openapi()`` builds.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import orjson
from fastapi import FastAPI
from fastapi import routing as fastapi_routing
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field
from starlette.routing import BaseRoute

from leadrelay.shared.problems import PROBLEM_JSON, Problem

# A fixed trace id in the examples, so the document is the same on every build.
_EXAMPLE_TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


class FieldError(BaseModel):
    """One thing wrong with the request, named."""

    field: str = Field(description="The body field, header or part of the request at fault.",
                       examples=["email"])
    reason: str = Field(description="Why it is wrong. Never the value that was sent.",
                        examples=["An email address must have an @-sign."])


class ProblemDetails(BaseModel):
    """An error as RFC 9457 problem details, sent as ``application/problem+json``."""

    model_config = ConfigDict(title="Problem")

    type: str = Field(description="A URI naming the kind of problem.",
                      examples=["https://leadrelay.dev/problems/invalid-field"])
    title: str = Field(description="The kind of problem, for people.", examples=["Invalid field"])
    status: int = Field(description="The HTTP status code.", examples=[422])
    detail: str = Field(description="What is wrong with this request.",
                        examples=["Invalid email: An email address must have an @-sign."])
    instance: str = Field(description="The path that was requested.", examples=["/v1/leads"])
    errors: list[FieldError] = Field(default_factory=list,
                                     description="Each field at fault. Absent when no single field is.")
    trace_id: str = Field(description="The request's `X-Request-Id` if it sent one, else a new id. "
                                      "Quote it when asking about the error.",
                          examples=[_EXAMPLE_TRACE_ID])


def inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """Returns ``model``'s JSON Schema with each nested model written in place.

    pydantic points at nested models with ``#/$defs/…``. Inside an OpenAPI document such a
    reference resolves against the document's root, which has no ``$defs``."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                siblings = {key: value for key, value in node.items() if key != "$ref"}
                return resolve({**defs[ref.removeprefix("#/$defs/")], **siblings})
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    return resolve(schema)


def json_body(model: type[BaseModel], description: str) -> dict[str, Any]:
    """Returns ``openapi_extra`` declaring ``model`` as the route's required JSON request body."""
    return {"requestBody": {"required": True, "description": description,
                            "content": {"application/json": {"schema": inline_schema(model)}}}}


def problem_responses(*answers: tuple[str, Problem], instance: str) -> dict[int | str, dict[str, Any]]:
    """Returns ``responses`` entries for a route's problem+json answers.

    Each answer is a description and an example ``Problem``: the status and headers come from the
    problem, and the example body is the one the app would send for it at ``instance``."""
    schema = inline_schema(ProblemDetails)
    responses: dict[int | str, dict[str, Any]] = {}
    for description, example in answers:
        if example.status in responses:
            raise ValueError(f"two answers for status {example.status}")
        body = example.body(instance, _EXAMPLE_TRACE_ID)
        response: dict[str, Any] = {"description": description,
                                    "content": {PROBLEM_JSON: {"schema": schema, "example": body}}}
        if example.headers:
            response["headers"] = {name: {"schema": {"type": "string"}, "example": value}
                                   for name, value in example.headers.items()}
        responses[example.status] = response
    return responses


# --- The answers every operation can give, added to the whole document by the app's ``openapi()``.

# What the app's problem handlers (``shared/web/errors.py``) and middleware answer, by status.
COMMON_PROBLEMS: dict[int, str] = {
    400: "The body is not valid JSON.",
    401: "No `Authorization: Bearer <credential>`, or one that is unknown or revoked.",
    403: "The credential's role may not do this.",
    404: "No such resource that the caller can see.",
    413: "The body is over the route's size limit; it is refused while it streams in.",
    415: "The body is not sent in a content type the route reads (JSON: `application/json`, UTF-8).",
    422: "A parameter or body field is invalid; `errors` names each one. Nothing was stored.",
    503: "The database or the event log is unavailable; nothing was stored. Retry after `Retry-After` seconds.",
    500: "An unexpected error (never intended: it is logged with the trace id).",
}
_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}

# The one credential the API reads from ``Authorization: Bearer`` (``shared/web/deps.py``).
BEARER_SCHEME: dict[str, Any] = {
    "type": "http", "scheme": "bearer",
    "description": "A lead source's API key (`lrs_…`, from `leadrelay sources add`): it posts leads and reads "
                   "them one by one; an integration source's key reports CRM activity. Or a token (`lrt_…`, "
                   "from `leadrelay tokens create`) with a role: `admin` (everything), `manager` (their teams' "
                   "leads, the pool, reports) or `rep` (their own leads, their team's pool). An operation "
                   "without this requirement takes no bearer credential: the platform webhooks are checked by "
                   "their platform's signature or token (see each one), the one-click pages by their link's "
                   "mac, and `/metrics`, `/healthz`, `/readyz` are open.",
}
BEARER = [{"bearer": []}]
_BODY_METHODS = {"POST", "PUT", "PATCH"}


def problems(*statuses: int, **descriptions: str) -> dict[int | str, dict[str, Any]]:
    """Returns ``responses`` entries declaring ``statuses`` as problem+json answers, described as in
    ``COMMON_PROBLEMS`` unless ``descriptions`` names one (``s409="…"``)."""
    return {status: {"description": descriptions.get(f"s{status}") or COMMON_PROBLEMS.get(status, "A problem."),
                     "content": {PROBLEM_JSON: {"schema": _PROBLEM_REF}}}
            for status in statuses}


def _calls(dependant: Any) -> set[Any]:
    found = {dependant.call}
    for sub in dependant.dependencies:
        found |= _calls(sub)
    return found


def route_authenticates(route: APIRoute) -> bool:
    """Whether ``route`` reads the bearer credential through ``authenticate``."""
    from leadrelay.shared.web.deps import authenticate

    return authenticate in _calls(route.dependant)


def route_problem_statuses(route: APIRoute) -> set[int]:
    """The problem+json statuses the app itself can answer for ``route``: its credential check
    (401, 403), its path (404), its body (413; 400 and 415 for JSON), its parameters (422), the store (503),
    and the last-resort handler (500)."""
    from leadrelay.shared.web.deps import authenticate, get_runtime, get_store

    calls = _calls(route.dependant)
    statuses = {500}
    if authenticate in calls:
        statuses |= {401, 403}
    if "{" in route.path_format:
        statuses |= {404}
    has_params = bool(route.dependant.path_params or route.dependant.query_params or route.dependant.header_params)
    if route.methods & _BODY_METHODS:
        statuses |= {413, 422}  # the body limit holds on every route; a field can be wrong
        declared = ((route.openapi_extra or {}).get("requestBody") or {}).get("content") or {}
        if route.body_field is not None or "application/json" in declared:
            statuses |= {400, 415}  # a JSON body: it must parse, and come as application/json
    elif has_params:
        statuses |= {422}
    if calls & {get_store, get_runtime}:
        statuses |= {503}
    return statuses


def api_routes(routes: Iterable[BaseRoute]) -> Iterator[BaseRoute]:
    """Each route as declared, also those of included routers (which FastAPI ≥ 0.165 keeps as
    one ``_IncludedRouter`` entry in ``app.routes``). The app includes its routers without a
    prefix, so a route's declared path is its path in the document."""
    iterate = getattr(fastapi_routing, "iter_route_contexts", None)
    if iterate is None:
        yield from routes
        return
    for context in iterate(list(routes)):
        yield context.original_route


def add_problem_responses(document: dict[str, Any], routes: Iterable[BaseRoute]) -> dict[str, Any]:
    """Adds to each operation of ``document`` the problem+json answers its route can give (what
    the route declares itself stays), registers ``Problem`` under ``components.schemas``, and
    replaces FastAPI's default 422 (``HTTPValidationError``, which this app never sends)."""
    paths = document.get("paths", {})
    for route in api_routes(routes):
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        for method in route.methods:
            operation = paths.get(route.path_format, {}).get(method.lower())
            if operation is None:
                continue
            responses = operation.setdefault("responses", {})
            default_422 = responses.get("422", {}).get("content", {}).get("application/json", {}).get("schema")
            if default_422 == {"$ref": "#/components/schemas/HTTPValidationError"}:
                del responses["422"]
            # A route that checks a bearer credential itself declares it in ``openapi_extra``.
            operation.setdefault("security", BEARER if route_authenticates(route) else [])
            for status in sorted(route_problem_statuses(route)):
                entry = responses.setdefault(str(status), {"description": COMMON_PROBLEMS[status]})
                entry.setdefault("content", {}).setdefault(PROBLEM_JSON, {"schema": _PROBLEM_REF})
    components = document.setdefault("components", {})
    components.setdefault("securitySchemes", {})["bearer"] = BEARER_SCHEME
    schemas = components.setdefault("schemas", {})
    schemas["Problem"] = inline_schema(ProblemDetails)
    if "HTTPValidationError" not in orjson.dumps(paths).decode():
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
    return document


def install_openapi(app: FastAPI) -> None:
    """Makes ``app.openapi()`` build FastAPI's document and then add the problem answers."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(title=app.title, version=app.version, openapi_version=app.openapi_version,
                                   description=app.description, routes=app.routes)
            app.openapi_schema = add_problem_responses(document, app.routes)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented hook
