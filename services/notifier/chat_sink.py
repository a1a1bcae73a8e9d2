"""A local stand-in for a Slack incoming webhook, for trying Leadrelay without a workspace:
it answers like Slack (``200 ok``, ``400 invalid_payload``) and prints each message."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route


def create_sink(show: Callable[[str, dict[str, Any]], None]) -> Starlette:
    async def receive(request: Request) -> PlainTextResponse:
        try:
            payload = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return PlainTextResponse("invalid_payload", status_code=400)
        if not isinstance(payload, dict) or not payload.get("text"):
            return PlainTextResponse("no_text", status_code=400)
        show(request.path_params["recipient"], payload)
        return PlainTextResponse("ok")

    return Starlette(routes=[Route("/slack/{recipient:path}", receive, methods=["POST"])])


def message_lines(payload: dict[str, Any]) -> list[str]:
    """The text of a Block Kit message's sections, as a person would read them."""
    lines = []
    for block in payload.get("blocks") or []:
        text = block.get("text")
        if isinstance(text, dict) and text.get("text"):
            lines.append(text["text"])
        for field in block.get("fields") or []:
            lines.append(field.get("text", ""))
    return lines or [payload.get("text", "")]
