"""Signed one-click action links: what a chat button carries on the platforms that cannot call us
back (Teams workflows, Feishu, DingTalk and WeCom custom bots only open URLs).

A link's token is ``<payload>.<mac>``, both base64url without padding: the payload names the
person the link acts as, the lead, the action, the expiry and a nonce; the mac is HMAC-SHA256 of
the payload under the deployment's link secret (``LEADRELAY_LINK_SECRET``). Reading a token
checks, in order: its form, its mac (constant-time), its expiry. Nothing here knows whether a
nonce was spent: single use is the store's job, and the router's.

Pure: no I/O and no clock; the caller passes the secret, the time and the nonce.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

# What a link (or a Slack button) can do. ``accepted`` and ``contacted`` are the API's actions;
# ``not_mine`` hands the lead back to its team's pool; ``reassign`` is a manager's.
ACTIONS = ("accepted", "contacted", "not_mine", "reassign")
Action = Literal["accepted", "contacted", "not_mine", "reassign"]

# A message is read within the day; a link older than that acts on a lead that has moved on,
# and a leaked one stays usable for less long. Reminders carry fresh links.
LINK_TTL = timedelta(hours=24)
# Bounds what a token may carry, so a crafted one costs nothing to refuse.
MAX_TOKEN_CHARS = 600
NONCE_CHARS = 22  # 128 bits in base64url
# The mac covers this tag too, so a signature made for something else under the same secret
# never reads as a link.
_DOMAIN = b"leadrelay/action-link/v1\n"

Refusal = Literal["malformed", "tampered", "expired"]


class LinkRefused(Exception):
    """The token is not a link we made (``malformed``, ``tampered``) or is past its expiry
    (``expired``; ``link`` is then what it said, genuine, to tell its holder why in their own
    language). The mac is checked before the expiry, so a forger learns nothing from it."""

    def __init__(self, reason: Refusal, link: ActionLink | None = None) -> None:
        super().__init__(reason)
        self.reason: Refusal = reason
        self.link = link


@dataclass(frozen=True)
class ActionLink:
    """What a link lets its holder do: ``person`` (a rep, or a manager for ``reassign``) does
    ``action`` on ``lead_id`` until ``expires_at``, once (``nonce``)."""

    person: str
    lead_id: str
    action: Action
    expires_at: datetime
    nonce: str


def nonce_for(seed: str, action: str) -> str:
    """A nonce per message and action: the same event redelivered makes the same links (the
    delivery is deduplicated anyway), two messages or two buttons never share one."""
    digest = hashlib.sha256(f"{seed}\n{action}".encode()).digest()
    return _b64(digest)[:NONCE_CHARS]


def sign(secret: str, link: ActionLink) -> str:
    """The token for ``link``; raises ValueError for an unknown action or a naive expiry."""
    if link.action not in ACTIONS:
        raise ValueError(f"unknown action {link.action!r}")
    if link.expires_at.tzinfo is None:
        raise ValueError("expires_at must be timezone-aware")
    fields = [1, link.person, link.lead_id, link.action, int(link.expires_at.timestamp()), link.nonce]
    payload = _b64(json.dumps(fields, separators=(",", ":"), ensure_ascii=False).encode())
    return f"{payload}.{_b64(_mac(secret, payload))}"


def read(secret: str, token: str, now: datetime) -> ActionLink:
    """The link ``token`` carries; raises LinkRefused when it is malformed, tampered with
    (any change to it, or another secret) or expired at ``now``."""
    if len(token) > MAX_TOKEN_CHARS or token.count(".") != 1:
        raise LinkRefused("malformed")
    payload, mac = token.split(".")
    try:
        given = _unb64(mac)
    except ValueError:
        raise LinkRefused("malformed") from None
    if not hmac.compare_digest(given, _mac(secret, payload)):
        raise LinkRefused("tampered")
    try:
        version, person, lead_id, action, expires, nonce = json.loads(_unb64(payload))
    except (ValueError, TypeError):
        raise LinkRefused("malformed") from None  # signed by us, so only an older format gets here
    if version != 1 or action not in ACTIONS or not all(isinstance(v, str) for v in (person, lead_id, nonce)) \
            or not isinstance(expires, int):
        raise LinkRefused("malformed")
    try:
        expires_at = datetime.fromtimestamp(expires, UTC)
    except (OverflowError, OSError, ValueError):
        raise LinkRefused("malformed") from None
    link = ActionLink(person=person, lead_id=lead_id, action=action, expires_at=expires_at, nonce=nonce)
    if now >= expires_at:
        raise LinkRefused("expired", link)
    return link


def _mac(secret: str, payload: str) -> bytes:
    return hmac.new(secret.encode(), _DOMAIN + payload.encode(), hashlib.sha256).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    """Strict base64url: anything but its alphabet is refused (ValueError), not skipped."""
    if not text or any(c not in _ALPHABET for c in text):
        raise ValueError("not base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error as exc:
        raise ValueError("not base64url") from exc


_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


@dataclass(frozen=True)
class LinkSettings:
    """How chat messages offer actions, from the settings: signed links need the public base URL
    (``public_url``; without it there are none and the message says how to act) and the secret;
    Slack buttons call back natively when the Slack app's signing secret is configured."""

    public_url: str | None
    secret: str
    ttl: timedelta = LINK_TTL
    slack_callbacks: bool = False

    def url(self, token: str) -> str | None:
        return f"{self.public_url.rstrip('/')}/v1/act/{token}" if self.public_url else None
