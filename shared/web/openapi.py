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

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

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
