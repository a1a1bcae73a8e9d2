"""DingTalk custom robot: actionCard (with a link) or markdown (PLATFORMS.md §4).

Signing differs from Feishu: the HMAC key is the secret, the timestamp is in
milliseconds, and both travel in the query string. Every answer is HTTP 200; `errcode` decides.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote_plus

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
    transient,
)
from . import (
    markdown_inline as _safe,
)

# Not documented in PLATFORMS.md; we hold DingTalk to Feishu's 20 KB to stay safe [U].
MAX_BODY_BYTES = 20_000
# 20/min per robot, then the robot is throttled for 10 minutes [S]: retrying sooner only fails again.
RATE_LIMIT_WAIT = 600.0
# `send too fast` (130101 [S]) and `webhook over limit` (90030 [S]) both mean throttled.
_RATE_LIMITED = {130101, 90030}
SYSTEM_BUSY = -1  # DingTalk/WeChat-family "system busy" [U]: transient
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def sign(secret: str, timestamp_ms: int) -> str:
    """base64(HMAC_SHA256(key=secret, msg=f"{timestamp_ms}\\n{secret}")), not yet URL-encoded [S]."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def signed_url(webhook: str, secret: str, now: datetime) -> str:
    """Appends `&timestamp=<ms>&sign=<urlencoded>`: base64 has `+`/`/`/`=`, and a raw `+` would
    reach DingTalk as a space and fail with "sign not match"."""
    ts = (now - _EPOCH) // timedelta(milliseconds=1)  # exact; float timestamp() * 1000 can be off by 1 ms
    sep = "&" if "?" in webhook else "?"
    return f"{webhook}{sep}timestamp={ts}&sign={quote_plus(sign(secret, ts))}"


def build_request(message: ChatMessage, dest: ChatDestination, now: datetime) -> OutgoingRequest:
    url = signed_url(dest.webhook, dest.secret, now) if dest.secret else dest.webhook
    body = fit(message, lambda c: encode_json(_payload(message, c)), len, MAX_BODY_BYTES)
    return OutgoingRequest(url=url, headers=dict(JSON_HEADERS), body=body)


def _payload(message: ChatMessage, c: Clipped) -> dict[str, Any]:
    facts = "\n".join(f"- **{_safe(k)}**: {_safe(v)}" for k, v in c.facts)
    blocks = [f"#### {_safe(c.title)}", _safe(c.text), facts]
    text = "\n\n".join(b for b in blocks if b)
    title = _safe(c.title)  # shown in the conversation list and the push notification
    links = c.links()
    if links:
        # Several buttons: `btns`, stacked (`btnOrientation` 0) so each label reads whole on a phone.
        btns = [{"title": a.label, "actionURL": a.url} for a in links]
        if c.url:
            btns.append({"title": message.link_text, "actionURL": c.url})
        return {"msgtype": "actionCard", "actionCard": {"title": title, "text": text, "btnOrientation": "0",
                                                        "btns": btns}}
    if c.url:
        # Buttons are plain URL jumps, no callback (PLATFORMS.md §4).
        card = {
            "title": title,
            "text": text,
            "btnOrientation": "0",
            "singleTitle": message.link_text,
            "singleURL": c.url,
        }
        return {"msgtype": "actionCard", "actionCard": card}
    return {"msgtype": "markdown", "markdown": {"title": title, "text": text}}


def interpret_response(status: int, headers: Mapping[str, str], body: bytes) -> DeliveryResult:
    if status == 302:
        # While throttled, sends are observed to be redirected for 10 minutes [S].
        return transient("dingtalk 302 throttled", RATE_LIMIT_WAIT)
    if status != 200:
        return by_status("dingtalk", status, headers, RATE_LIMIT_WAIT)
    answer = json_object(body)
    code = answer.get("errcode") if answer else None
    if not isinstance(code, int):
        return transient("dingtalk 200 unreadable body", TRANSIENT_RETRY_SECONDS)
    message = str(answer.get("errmsg", "")) if answer else ""
    if code == 0:
        return delivered("dingtalk errcode 0")
    if code in _RATE_LIMITED or "send too fast" in message:
        return transient(f"dingtalk errcode {code} send too fast", RATE_LIMIT_WAIT)
    if code == SYSTEM_BUSY:
        return transient("dingtalk errcode -1 busy", TRANSIENT_RETRY_SECONDS)
    # 310000 covers sign, timestamp, keyword and IP-whitelist failures; keep which one, not the IP.
    return permanent(f"dingtalk errcode {code} {_reason(message)}".strip())


def _reason(errmsg: str) -> str:
    for known in ("sign not match", "invalid timestamp", "keywords not in content"):
        if known in errmsg:
            return known
    return "ip not in whitelist" if errmsg.startswith("ip ") else ""

