"""Microsoft Teams: an Adaptive Card in the `type: message` envelope (PLATFORMS.md §2).

The same body works for legacy O365 connector URLs and for Workflows URLs, which
accept Adaptive Cards only. No signing: the URL (and the Workflows `sig=`) is the credential.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from . import (
    JSON_HEADERS,
    TRANSIENT_RETRY_SECONDS,
    ChatDestination,
    ChatMessage,
    Clipped,
    DeliveryResult,
    OutgoingRequest,
    by_status,
    delivered,
    encode_json,
    fit,
    permanent,
    retry_after_header,
    transient,
)

# Practical limit ~28 KB, possibly counted as UTF-16 [S]; we stay under both readings.
MAX_BODY_BYTES = 27_000
# Limits run from 4/s to 100/h per channel [C]; the doc says back off exponentially.
# 30 s clears the 60-per-30-s window; the caller's backoff covers the hourly ones.
RATE_LIMIT_WAIT = 30.0

_KIND_COLOR = {"escalation": "Attention", "reminder": "Warning", "assigned": "Accent"}
# A connector wraps Teams' own status in the body: "... endpoint returned HTTP error 429 ...".
_INNER_STATUS = re.compile(rb"returned HTTP error (\d{3})")


def build_request(message: ChatMessage, dest: ChatDestination, now: datetime) -> OutgoingRequest:
    body = fit(message, lambda c: encode_json(_payload(message, c)), size, MAX_BODY_BYTES)
    return OutgoingRequest(url=dest.webhook, headers=dict(JSON_HEADERS), body=body)


def size(body: bytes) -> int:
    """The stricter of the two ways Teams may count the payload (UTF-8 or UTF-16 bytes)."""
    return max(len(body), len(body.decode().encode("utf-16-le")))


def _payload(message: ChatMessage, c: Clipped) -> dict[str, Any]:
    title: dict[str, Any] = {"type": "TextBlock", "text": c.title, "weight": "Bolder", "size": "Medium", "wrap": True}
    if message.kind in _KIND_COLOR:
        title["color"] = _KIND_COLOR[message.kind]
    body: list[dict[str, Any]] = [title]
    if c.text:
        body.append({"type": "TextBlock", "text": c.text, "wrap": True})
    if c.facts:
        body.append({"type": "FactSet", "facts": [{"title": k, "value": v} for k, v in c.facts]})
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.2",
        "body": body,
    }
    # Incoming webhooks reject Action.Submit; OpenUrl is a plain link (PLATFORMS.md §2.2), so the
    # actions are signed links, and callbacks (Slack's) are left out.
    actions = [{"type": "Action.OpenUrl", "title": a.label, "url": a.url} for a in c.links()]
    if c.url:
        actions.append({"type": "Action.OpenUrl", "title": message.link_text, "url": c.url})
    if actions:
        card["actions"] = actions
    return {
        "type": "message",
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}
        ],
    }


def interpret_response(status: int, headers: Mapping[str, str], body: bytes) -> DeliveryResult:
    # Workflows answer 202 [S]; connectors answer 200 with body exactly `1` [C]; a bare 200 is not enough.
    if status == 202 or (status == 200 and body.strip() == b"1"):
        return delivered(f"teams {status}")
    inner = _INNER_STATUS.search(body)
    if inner:
        # Connectors "do not throw 429s": the throttle (and other Teams errors) hide in the body [C].
        code = int(inner.group(1))
        if code == 429:
            return transient("teams 429 in body", retry_after_header(headers, RATE_LIMIT_WAIT))
        return by_status("teams", code, headers, RATE_LIMIT_WAIT)
    if 200 <= status < 300:
        # 2xx without the `1`: not delivered and not explained; retry a bounded number of times.
        return transient(f"teams {status} unexpected body", TRANSIENT_RETRY_SECONDS)
    result = by_status("teams", status, headers, RATE_LIMIT_WAIT)
    if status == 400:
        return permanent("teams 400 bad payload")  # e.g. "Summary or Text is required."
    return result
