"""Slack incoming webhook with Block Kit (PLATFORMS.md §1.1).

The URL is the only credential, so there is nothing to sign. Errors come back as
plain-text codes (`invalid_payload`, `no_service`, …), never JSON.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from . import (
    JSON_HEADERS,
    ChatAction,
    ChatDestination,
    ChatMessage,
    Clipped,
    DeliveryResult,
    OutgoingRequest,
    by_status,
    delivered,
    encode_json,
    fit,
    truncate_chars,
)

HEADER_CHARS = 150  # header block plain_text limit (Block Kit reference)
FIELD_CHARS = 2000  # section field limit (Block Kit reference)
SECTION_CHARS = 3000  # section text limit [S] bolt-js #2509
FIELDS_PER_SECTION = 10  # Block Kit: at most 10 fields per section
# `msg_blocks_too_long` was observed at ~13k chars of blocks [S] bolt-js #2509.
BODY_CHARS = 12_000
# "1 per second, short bursts allowed": wait at least a second when no Retry-After.
RATE_LIMIT_WAIT = 1.0
# The actions block's id: a click's payload names it, and the router's update of the message
# (through response_url) puts its status line just above it.
ACTIONS_BLOCK = "leadrelay_actions"

_ERROR_CODE = re.compile(r"[a-z_]{1,64}")


def build_request(message: ChatMessage, dest: ChatDestination, now: datetime) -> OutgoingRequest:
    body = fit(message, lambda c: encode_json(_payload(message, c)), lambda b: len(b.decode()), BODY_CHARS)
    return OutgoingRequest(url=dest.webhook, headers=dict(JSON_HEADERS), body=body)


def _payload(message: ChatMessage, c: Clipped) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": truncate_chars(c.title, HEADER_CHARS)}}
    ]
    if c.text:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": mrkdwn(c.text, SECTION_CHARS)}})
    fields = [
        {"type": "mrkdwn", "text": mrkdwn(f"*{escape(label)}*\n{escape(value)}", FIELD_CHARS, escaped=True)}
        for label, value in c.facts
    ]
    for i in range(0, len(fields), FIELDS_PER_SECTION):
        blocks.append({"type": "section", "fields": fields[i : i + FIELDS_PER_SECTION]})
    elements = [_button(action) for action in c.actions]
    if c.url:
        button = {
            "type": "button",
            "text": {"type": "plain_text", "text": message.link_text},
            "action_id": "open_lead",
            "value": message.lead_id,
            "url": c.url,
        }
        if message.kind == "escalation" or not elements:
            button["style"] = "danger" if message.kind == "escalation" else "primary"
        elements.append(button)
    if elements:
        blocks.append({"type": "actions", "block_id": ACTIONS_BLOCK, "elements": elements})
    # With blocks present, `text` is only the notification fallback (PLATFORMS.md §1.1).
    return {"text": mrkdwn(c.title, SECTION_CHARS), "blocks": blocks}


def _button(action: ChatAction) -> dict[str, Any]:
    """A callback button posts ``value`` to the app's interactivity URL (``action_id`` = what it
    does); a URL button opens a signed link (Slack still reports the click, without a value)."""
    button: dict[str, Any] = {"type": "button", "text": {"type": "plain_text", "text": action.label}}
    if action.kind == "callback":
        button.update(action_id=action.name, value=action.value)
    else:
        button.update(action_id=f"{action.name}_link", url=action.url)
    if action.name == "accepted":
        button["style"] = "primary"
    return button


def escape(text: str) -> str:
    """Slack's required mrkdwn escaping; it also stops `<!channel>` pings hidden in lead data."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def mrkdwn(text: str, limit: int, *, escaped: bool = False) -> str:
    """Escaped text of at most ``limit`` chars, never cut inside an `&amp;`-style entity."""
    out = text if escaped else escape(text)
    if len(out) <= limit:
        return out
    cut = out[: limit - 1]
    amp = cut.rfind("&", max(0, len(cut) - 4))
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut + "…"


def interpret_response(status: int, headers: Mapping[str, str], body: bytes) -> DeliveryResult:
    # Success is HTTP 200 with body `ok` [S]; the status is what Slack guarantees.
    if 200 <= status < 300:
        return delivered(f"slack {status} ok")
    # 400 invalid_payload/no_text, 403 action_prohibited, 404 no_service, 410 channel_is_archived:
    # permanent; 429 honours Retry-After; 5xx (rollup_error) is transient.
    result = by_status("slack", status, headers, RATE_LIMIT_WAIT)
    text = body.decode(errors="replace").strip()
    code = text if _ERROR_CODE.fullmatch(text) else ("rate_limited" if status == 429 else "")
    return replace(result, detail=f"{result.detail} {code}") if code else result
