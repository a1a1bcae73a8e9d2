"""WeCom group robot: a markdown message (PLATFORMS.md §5).

Markdown rather than `template_card`: it shows every fact (a text_notice card holds
at most 6) and still carries a link. The URL `key` is the only credential; WeCom
robots have no signing, so a configured secret is ignored. Every answer is HTTP 200; `errcode` decides.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

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
    markdown_inline,
    permanent,
    transient,
)

MAX_CONTENT_BYTES = 4096  # markdown.content ≤ 4096 UTF-8 bytes [C]
RATE_LIMIT_WAIT = 60.0  # 20 messages/min per robot [C]: the window is a minute
RATE_LIMITED = 45009  # "api freq out of limit" [S]
INVALID_WEBHOOK = 93000  # key revoked or robot removed [S]
SYSTEM_BUSY = -1  # WeChat-family "system busy" [U]: transient

_KIND_COLOR = {"escalation": "warning", "reminder": "warning", "assigned": "info"}


def build_request(message: ChatMessage, dest: ChatDestination, now: datetime) -> OutgoingRequest:
    content = fit(message, lambda c: _markdown(message, c), lambda s: len(s.encode()), MAX_CONTENT_BYTES)
    body = encode_json({"msgtype": "markdown", "markdown": {"content": content}})
    return OutgoingRequest(url=dest.webhook, headers=dict(JSON_HEADERS), body=body)


def _markdown(message: ChatMessage, c: Clipped) -> str:
    title = f"**{markdown_inline(c.title)}**"
    color = _KIND_COLOR.get(message.kind)
    lines = [f'<font color="{color}">{title}</font>' if color else title]
    if c.text:
        lines.append(markdown_inline(c.text))
    lines += [f'> {markdown_inline(k)}: <font color="comment">{markdown_inline(v)}</font>' for k, v in c.facts]
    # Markdown robots have no buttons that call back: the actions are signed links in the text.
    links = [f"[{markdown_inline(a.label)}]({_target(a.url or '')})" for a in c.links()]
    if links:
        lines.append("　".join(links))  # an ideographic space: a gap that reads in Chinese and English
    if c.url:
        lines.append(f"[{markdown_inline(message.link_text)}]({_target(c.url)})")
    return "\n".join(lines)


def _target(url: str) -> str:
    """Percent-encodes what would end the markdown link target early."""
    return url.replace(" ", "%20").replace("(", "%28").replace(")", "%29")


def interpret_response(status: int, headers: Mapping[str, str], body: bytes) -> DeliveryResult:
    # Some clients also see HTTP 429 on throttling [U]; by_status honours Retry-After.
    if status != 200:
        return by_status("wecom", status, headers, RATE_LIMIT_WAIT)
    answer = json_object(body)
    code = answer.get("errcode") if answer else None
    if not isinstance(code, int):
        return transient("wecom 200 unreadable body", TRANSIENT_RETRY_SECONDS)
    if code == 0:
        return delivered("wecom errcode 0")
    if code == RATE_LIMITED:
        return transient("wecom errcode 45009 rate limited", RATE_LIMIT_WAIT)
    if code == SYSTEM_BUSY:
        return transient("wecom errcode -1 busy", TRANSIENT_RETRY_SECONDS)
    if code == INVALID_WEBHOOK:
        return permanent("wecom errcode 93000 invalid webhook url")
    return permanent(f"wecom errcode {code}")  # bad message type/content: resending cannot help
