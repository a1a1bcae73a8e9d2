"""A local stand-in for a Slack incoming webhook, for trying Leadrelay without a workspace:
it answers like Slack (``200 ok``, ``400 invalid_payload``) and prints each message, with its
buttons' one-click links (open one to act as the rep)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
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


def buttons(payload: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    """The message's buttons, as (what it does, label, URL): ``accepted``, ``contacted``,
    ``not_mine``, ``reassign``, ``open``; a button that calls back to Slack has no URL."""
    found = []
    for block in payload.get("blocks") or []:
        if block.get("type") != "actions":
            continue
        for element in block.get("elements") or []:
            name = str(element.get("action_id") or "")
            name = "open" if name == "open_lead" else name.removesuffix("_link")
            found.append((name, str(element.get("text", {}).get("text", "")), element.get("url")))
    return found


def message_lines(payload: dict[str, Any]) -> list[str]:
    """The text of a Block Kit message's sections, as a person would read them."""
    lines = []
    for block in payload.get("blocks") or []:
        text = block.get("text")
        if isinstance(text, dict) and text.get("text"):
            lines += _unescape(text["text"]).split("\n")
        for field in block.get("fields") or []:
            label, _, value = field.get("text", "").partition("\n")  # "*Label*\nvalue"
            lines.append(f"{_unescape(label.strip('*'))}: {_unescape(value)}" if value else _unescape(label))
        for element in block.get("elements") or []:
            if element.get("url"):
                lines.append(f"{element.get('text', {}).get('text', 'Link')}: {element['url']}")
    return lines or [_unescape(payload.get("text", ""))]


def _unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def panel(recipient: str, payload: dict[str, Any]) -> Panel:
    """The message as the rep reads it: its blocks, each once, its buttons aside (``button_lines``).
    (``text`` is Slack's notification fallback, a copy of the header: printing it too showed the
    title twice.)"""
    links = {f"{label}: {url}" for _, label, url in buttons(payload) if url}
    lines = [line for line in message_lines(payload) if line not in links]
    return Panel(escape("\n".join(lines)), title=f"to {escape(recipient)}", title_align="left")


def button_lines(payload: dict[str, Any]) -> list[str]:
    """One line per button, ``[accepted] Accept: <url>``: printed under the panel and never
    wrapped, so a link can be copied (or grepped) whole."""
    return [f"  [{name}] {label}: {url or '(a Slack button: it calls Leadrelay back)'}"
            for name, label, url in buttons(payload)]


def show(console: Console, recipient: str, payload: dict[str, Any]) -> None:
    """What the sink prints for one message: the panel, then its buttons."""
    console.print(panel(recipient, payload))
    for line in button_lines(payload):
        console.print(line, soft_wrap=True, markup=False, highlight=False)
