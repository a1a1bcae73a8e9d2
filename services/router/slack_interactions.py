"""Slack's button clicks (PLATFORMS.md §1.3): the v0 request signature, the ``block_actions``
payload, and the update of the clicked message through its ``response_url``. Pure: the caller
passes the raw body, the headers' values and the time.

The signature covers ``v0:<timestamp>:<raw body>`` under the app's signing secret; a request
more than five minutes from our clock is refused whatever it carries, and one seen before (a
replay inside the window) is the caller's to refuse: it spends the signature as a nonce.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import parse_qs

SKEW = timedelta(minutes=5)  # Slack's own rule for stale requests [C]
# The buttons that act (``action_id`` = the action, ``value`` = "<action>:<lead id>"); the
# notifier's other buttons open links, and Slack reports their clicks too: those change nothing.
CALLBACK_ACTIONS = ("accepted", "contacted")
ACTIONS_BLOCK = "leadrelay_actions"  # the block the notifier puts the buttons in
STATUS_BLOCK = "leadrelay_status"  # the line this module adds above them

Refusal = Literal["unsigned", "forged", "stale", "malformed"]


class SlackRefused(Exception):
    """The request is not Slack's (``unsigned``, ``forged``), too old or too new (``stale``), or
    not a payload Slack sends (``malformed``)."""

    def __init__(self, reason: Refusal) -> None:
        super().__init__(reason)
        self.reason: Refusal = reason


def signature(signing_secret: str, timestamp: str, body: bytes) -> str:
    """``v0=`` + hex HMAC-SHA256 of ``v0:<timestamp>:<body>`` [C]."""
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()


def verify(signing_secret: str, timestamp: str | None, given: str | None, body: bytes, now: datetime) -> datetime:
    """Returns the request's time; raises SlackRefused. The signature is checked (in constant
    time) before the time, so a forger learns nothing from the answer."""
    if not timestamp or not given or not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        raise SlackRefused("unsigned")
    if not hmac.compare_digest(signature(signing_secret, timestamp, body).encode(), given.encode()):
        raise SlackRefused("forged")
    sent_at = datetime.fromtimestamp(int(timestamp), UTC)
    if abs(now - sent_at) > SKEW:
        raise SlackRefused("stale")
    return sent_at


def replay_nonce(given: str) -> str:
    """What a request is remembered by (``TokenRepository.spend_nonce``): its signature, hashed
    to a fixed length."""
    return "slack:" + hashlib.sha256(given.encode()).hexdigest()


@dataclass(frozen=True)
class Click:
    """A press of one of our callback buttons by Slack user ``user_id``."""

    user_id: str
    action: str
    lead_id: str
    response_url: str | None
    message: Mapping[str, Any] | None  # the message as Slack shows it, to update in place


def clicks(body: bytes) -> list[Click]:
    """The acting clicks in a signed request's body (``payload=<JSON>``, form-encoded); an
    interaction of another type, or a click on a link button, is none. Raises SlackRefused
    (``malformed``) for a body Slack would not send."""
    try:
        form = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True, max_num_fields=10)
        payload = json.loads(form["payload"][0])
    except (UnicodeDecodeError, ValueError, KeyError):
        raise SlackRefused("malformed") from None
    if not isinstance(payload, dict):
        raise SlackRefused("malformed")
    if payload.get("type") != "block_actions":
        return []
    user = payload.get("user")
    user_id = user.get("id") if isinstance(user, dict) else None
    actions = payload.get("actions")
    if not isinstance(user_id, str) or not isinstance(actions, list):
        raise SlackRefused("malformed")
    response_url = payload.get("response_url")
    message = payload.get("message")
    found = []
    for action in actions:
        if not isinstance(action, dict) or action.get("action_id") not in CALLBACK_ACTIONS:
            continue
        name, _, lead_id = str(action.get("value") or "").partition(":")
        if name == action["action_id"] and lead_id:
            found.append(Click(user_id=user_id, action=name, lead_id=lead_id,
                               response_url=response_url if isinstance(response_url, str) else None,
                               message=message if isinstance(message, dict) else None))
    return found


def updated_message(message: Mapping[str, Any] | None, status: str) -> dict[str, Any]:
    """What to post to ``response_url`` after acting: the clicked message again (its lead, its
    buttons) with ``status`` ("Accepted by Li Wei at 10:02") above the buttons, replacing an
    earlier status; a new message when Slack did not send the original."""
    line = {"type": "context", "block_id": STATUS_BLOCK, "elements": [{"type": "mrkdwn", "text": escape(status)}]}
    blocks = [b for b in (message or {}).get("blocks") or [] if isinstance(b, dict)]
    if not blocks:
        return {"replace_original": False, "text": escape(status)}
    blocks = [b for b in blocks if b.get("block_id") != STATUS_BLOCK]
    at = next((i for i, b in enumerate(blocks) if b.get("block_id") == ACTIONS_BLOCK), len(blocks))
    blocks.insert(at, line)
    return {"replace_original": True, "text": str((message or {}).get("text") or escape(status)), "blocks": blocks}


def refusal_message(text: str) -> dict[str, Any]:
    """Told only to the person who clicked; the message stays as it was."""
    return {"response_type": "ephemeral", "replace_original": False, "text": escape(text)}


def escape(text: str) -> str:
    """Slack's mrkdwn escaping, so a name in the policy cannot ping a channel."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
