"""Chat platform adapters: build a webhook request, interpret the answer.

Guarantees:
- Pure: no I/O and no clock; the caller passes ``now`` and performs the HTTP call.
- Every request stays within the platform's documented size limits; free text
  is shortened (never a URL, never mid-character) until it fits.
- Every answer maps to one :class:`DeliveryResult`: delivered, retry after N
  seconds, or permanent failure. ``detail`` never carries lead data.

Contracts are in /work/shared/PLATFORMS.md; each module cites the rule it follows.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal, TypeVar

KINDS = frozenset({"assigned", "reminder", "escalation", "reassigned", "recycled", "fallback", "held", "not_mine",
                   "collision"})
PLATFORMS = ("slack", "teams", "feishu", "dingtalk", "wecom")

# A notification is read on a phone; beyond this many facts nobody reads on, and the
# bound keeps every platform's worst case inside its byte limit (see `fit`).
MAX_FACTS = 20
MAX_LABEL_CHARS = 40
# Truncating a URL breaks it, so an over-long link is dropped instead. Slack buttons
# accept 3000 chars; 1000 keeps WeCom's 4096-byte markdown reachable at the smallest cap.
MAX_URL_CHARS = 1000
MAX_LINK_TEXT_CHARS = 40  # a button's label; Slack allows 75
# Buttons besides the link: Accept, Contacted, Not mine (a manager's: Reassign). Slack allows 25
# elements in an actions block and Teams shows six actions; a phone screen fits about four.
MAX_ACTIONS = 3
MAX_CALLBACK_VALUE_CHARS = 200  # Slack allows 2000 in a button's value
# Per-field character caps tried in order until the rendered message fits.
_CAPS: tuple[int, ...] = (4000, 1000, 300, 100, 40, 10)

# Minimum wait after a 5xx / network error; the caller grows it with its own backoff.
TRANSIENT_RETRY_SECONDS = 1.0
JSON_HEADERS = {"Content-Type": "application/json; charset=utf-8"}
ELLIPSIS = "…"


def _check_label(label: str) -> None:
    # Not clipped by `fit`, and a markdown link's label on WeCom: short, one line, no brackets.
    if not 0 < len(label) <= MAX_LINK_TEXT_CHARS or any(c in label for c in "[]()<>\n"):
        raise ValueError(f"link text must be 1-{MAX_LINK_TEXT_CHARS} chars without brackets or newlines")


@dataclass(frozen=True)
class ChatAction:
    """A button on the message. ``url``: it opens ``url`` (every platform can). ``callback``:
    the platform posts ``value`` back to us when it is pressed; only Slack's app interactivity
    can, so the other platforms leave callback actions out. ``name`` says what it does
    (``accepted``, ``contacted``, ``not_mine``, ``reassign``) and is the button's id on Slack."""

    name: str
    label: str
    kind: Literal["url", "callback"]
    url: str | None = None
    value: str | None = None

    def __post_init__(self) -> None:
        _check_label(self.label)
        if (self.kind == "url") != (self.url is not None) or (self.kind == "callback") != (self.value is not None):
            raise ValueError("a url action carries a url, a callback action a value")
        if self.value is not None and not 0 < len(self.value) <= MAX_CALLBACK_VALUE_CHARS:
            raise ValueError(f"a callback value is 1-{MAX_CALLBACK_VALUE_CHARS} chars")


@dataclass(frozen=True)
class ChatMessage:
    """What we want to say, platform-neutral. ``actions`` come before the link to ``url``."""

    kind: str
    lead_id: str
    title: str
    facts: tuple[tuple[str, str], ...]
    url: str | None
    text: str = ""
    link_text: str = "Open in Leadrelay"  # the label of the button or link to ``url``
    actions: tuple[ChatAction, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown message kind {self.kind!r}")
        _check_label(self.link_text)
        if len(self.actions) > MAX_ACTIONS:
            raise ValueError(f"at most {MAX_ACTIONS} actions")


@dataclass(frozen=True)
class ChatDestination:
    platform: str
    webhook: str
    secret: str | None = None


@dataclass(frozen=True)
class OutgoingRequest:
    url: str
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class DeliveryResult:
    """ok, or retry after ``retry_after`` seconds, or ``permanent`` (never retry)."""

    ok: bool
    retry_after: float | None
    permanent: bool
    detail: str


def build_request(message: ChatMessage, dest: ChatDestination, now: datetime) -> OutgoingRequest:
    """Returns the POST to send to ``dest``; raises ValueError for an unknown platform or naive ``now``."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")  # signatures carry epoch timestamps
    return _module(dest.platform).build_request(message, dest, now)


def interpret_response(
    platform: str, status: int, headers: Mapping[str, str], body: bytes
) -> DeliveryResult:
    """Maps one HTTP answer of ``platform`` to a DeliveryResult; raises ValueError for an unknown platform."""
    return _module(platform).interpret_response(status, headers, body)


def interpret_transport_error(platform: str, error: BaseException) -> DeliveryResult:
    """No HTTP answer at all (connect error, timeout, reset): always transient.

    A timeout may hide a delivered message; chat webhooks have no idempotency key,
    so a retry can duplicate it. A duplicate ping beats a lost hot lead.
    """
    return transient(f"{platform} transport {type(error).__name__}", TRANSIENT_RETRY_SECONDS)


# -- results -------------------------------------------------------------------------


def delivered(detail: str) -> DeliveryResult:
    return DeliveryResult(ok=True, retry_after=None, permanent=False, detail=detail)


def transient(detail: str, retry_after: float) -> DeliveryResult:
    return DeliveryResult(ok=False, retry_after=max(0.0, retry_after), permanent=False, detail=detail)


def permanent(detail: str) -> DeliveryResult:
    return DeliveryResult(ok=False, retry_after=None, permanent=True, detail=detail)


def by_status(platform: str, status: int, headers: Mapping[str, str], default_wait: float) -> DeliveryResult:
    """Fallback for answers a platform module does not recognise, by HTTP status alone."""
    if status == 429:
        return transient(f"{platform} 429", retry_after_header(headers, default_wait))
    if status >= 500 or status in (408, 425):
        return transient(f"{platform} {status}", retry_after_header(headers, TRANSIENT_RETRY_SECONDS))
    return permanent(f"{platform} {status}")


def header(headers: Mapping[str, str], name: str) -> str | None:
    """Case-insensitive lookup; plain dicts are accepted as well as httpx.Headers."""
    wanted = name.lower()
    return next((v for k, v in headers.items() if k.lower() == wanted), None)


def retry_after_header(headers: Mapping[str, str], default: float, name: str = "Retry-After") -> float:
    """Delta-seconds from ``name``; an HTTP-date needs a clock we don't have, so it gets ``default``."""
    value = header(headers, name)
    try:
        seconds = float(value) if value is not None else default
    except ValueError:
        return default
    return max(0.0, seconds) if math.isfinite(seconds) else default


def json_object(body: bytes) -> dict[str, Any] | None:
    try:
        parsed = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    return parsed if isinstance(parsed, dict) else None


# -- text fitting -----------------------------------------------------------------------


def encode_json(payload: Mapping[str, Any]) -> bytes:
    # ensure_ascii=False: the byte limits count UTF-8 (\uXXXX escapes would triple CJK sizes).
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def truncate_chars(text: str, limit: int) -> str:
    """At most ``limit`` code points; a cut is marked with an ellipsis."""
    return text if len(text) <= limit else text[: max(0, limit - 1)] + ELLIPSIS


def markdown_inline(text: str) -> str:
    """Lead data made inert inside DingTalk/WeCom markdown.

    Whitespace is collapsed so a value cannot open a new block (header, quote, list),
    and angle brackets are swapped for look-alikes so it cannot smuggle in a
    `<@userid>` mention or a `<font>` tag.
    """
    return " ".join(text.split()).replace("<", "‹").replace(">", "›")


@dataclass(frozen=True)
class Clipped:
    """A message with every free-text field cut to one cap."""

    title: str
    facts: tuple[tuple[str, str], ...]
    text: str
    url: str | None
    actions: tuple[ChatAction, ...] = ()

    def links(self) -> tuple[ChatAction, ...]:
        """The url actions, for the platforms that cannot call back."""
        return tuple(action for action in self.actions if action.kind == "url")


def clip(message: ChatMessage, cap: int) -> Clipped:
    url = message.url if message.url and len(message.url) <= MAX_URL_CHARS else None
    return Clipped(
        title=truncate_chars(message.title, cap),
        facts=tuple(
            (truncate_chars(label, min(cap, MAX_LABEL_CHARS)), truncate_chars(value, cap))
            for label, value in message.facts[:MAX_FACTS]
        ),
        text=truncate_chars(message.text, cap),
        url=url,
        # Like the link, a button whose URL would not survive is left out rather than broken.
        actions=tuple(a for a in message.actions[:MAX_ACTIONS] if a.url is None or len(a.url) <= MAX_URL_CHARS),
    )


T = TypeVar("T")


def fit(message: ChatMessage, render: Callable[[Clipped], T], size: Callable[[T], int], limit: int) -> T:
    """The first rendering, from the mildest cap down, whose ``size`` is within ``limit``; when
    even the smallest cap is too big with the action buttons, the same without them (the link to
    the lead stays, and acting there still works).

    Raises ValueError if even that does not fit; MAX_FACTS and MAX_URL_CHARS are chosen so that
    cannot happen for the platforms here.
    """
    for keep_actions in (True, False):
        for cap in _CAPS:
            clipped = clip(message, cap)
            rendered = render(clipped if keep_actions else replace(clipped, actions=()))
            if size(rendered) <= limit:
                return rendered
    raise ValueError(f"message {message.lead_id} cannot fit in {limit}")


# Platform modules import the helpers above, so they are imported last.
from . import dingtalk, feishu, slack, teams, wecom  # noqa: E402

_MODULES = {"slack": slack, "teams": teams, "feishu": feishu, "dingtalk": dingtalk, "wecom": wecom}


def _module(platform: str) -> Any:
    try:
        return _MODULES[platform]
    except KeyError:
        raise ValueError(f"unknown chat platform {platform!r}") from None
