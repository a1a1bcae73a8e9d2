"""Feishu / Lark custom bot: an interactive card in the top-level `card` (PLATFORMS.md §3).

Every answer is HTTP 200; the JSON `code` decides (0 = delivered).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
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
    json_object,
    permanent,
    retry_after_header,
    transient,
)

MAX_BODY_BYTES = 20_000  # request body ≤ 20 KB [C]
# 5/s and 100/min per bot [C]; code 11232 does not say which window tripped, so
# wait long enough for a 5/s burst to clear and let the caller's backoff cover the minute.
RATE_LIMIT_WAIT = 2.0
RATE_LIMITED = 11232

# Known failure codes [C]; the platform's `msg` is not echoed (it may name our IP).
_PERMANENT = {
    9499: "bad request",
    19021: "sign match fail",
    19022: "ip not allowed",
    19024: "keywords not found",
}
_TEMPLATE = {"escalation": "red", "reminder": "orange", "assigned": "blue", "reassigned": "purple"}


def sign(secret: str, timestamp: int) -> str:
    """base64(HMAC_SHA256(key=f"{timestamp}\\n{secret}", msg=b"")): the key is the string, the message is empty [C]."""
    key = f"{timestamp}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()


def build_request(message: ChatMessage, dest: ChatDestination, now: datetime) -> OutgoingRequest:
    signature: dict[str, str] = {}
    if dest.secret:
        ts = int(now.timestamp())  # seconds, sent as a string next to msg_type [C]
        signature = {"timestamp": str(ts), "sign": sign(dest.secret, ts)}
    body = fit(message, lambda c: encode_json({**signature, **_payload(message, c)}), len, MAX_BODY_BYTES)
    return OutgoingRequest(url=dest.webhook, headers=dict(JSON_HEADERS), body=body)


def _plain(text: str) -> dict[str, str]:
    # plain_text, not lark_md: lead data must not render `<at id=all>` mentions or links.
    return {"tag": "plain_text", "content": text}


def _payload(message: ChatMessage, c: Clipped) -> dict[str, Any]:
    elements: list[dict[str, Any]] = []
    if c.text:
        elements.append({"tag": "div", "text": _plain(c.text)})
    if c.facts:
        fields = [{"is_short": True, "text": _plain(f"{k}: {v}")} for k, v in c.facts]
        elements.append({"tag": "div", "fields": fields})
    # Custom-bot cards support URL jumps only, no callbacks [C]: the actions are signed links.
    buttons = [{"tag": "button", "text": _plain(a.label), "url": a.url,
                "type": "primary" if a.name == "accepted" else "default", "value": {}} for a in c.links()]
    if c.url:
        buttons.append({"tag": "button", "text": _plain(message.link_text), "url": c.url,
                        "type": "default" if buttons else "primary", "value": {}})
    if buttons:
        elements.append({"tag": "action", "actions": buttons})
    header = {"title": _plain(c.title), "template": _TEMPLATE.get(message.kind, "grey")}
    return {"msg_type": "interactive", "card": {"header": header, "elements": elements}}


def interpret_response(status: int, headers: Mapping[str, str], body: bytes) -> DeliveryResult:
    if status == 429:
        # The Open Platform gateway may throttle with HTTP 429 + x-ogw-ratelimit-reset [S].
        wait = retry_after_header(headers, RATE_LIMIT_WAIT, "x-ogw-ratelimit-reset")
        return transient("feishu 429 rate limited", retry_after_header(headers, wait))
    if status != 200:
        return by_status("feishu", status, headers, RATE_LIMIT_WAIT)
    answer = json_object(body)
    code = answer.get("code", answer.get("StatusCode")) if answer else None
    if not isinstance(code, int):
        return transient("feishu 200 unreadable body", TRANSIENT_RETRY_SECONDS)
    if code == 0:
        return delivered("feishu code 0")
    if code == RATE_LIMITED:
        return transient("feishu code 11232 rate limited", RATE_LIMIT_WAIT)
    # Anything else (19021 sign/clock, 19001 bad token, 9499 bad/too big body, …) is our
    # configuration or payload: retrying the same request cannot succeed.
    return permanent(f"feishu code {code} {_PERMANENT.get(code, '')}".strip())
