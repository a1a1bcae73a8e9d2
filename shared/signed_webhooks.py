"""Standard Webhooks (https://www.standardwebhooks.com), both ways: what we sign when we post an
event to a subscriber, and what we check when an integration posts to us, so integrators use one
scheme (and one library, ``standardwebhooks``) for both.

Pure: the caller passes ``now``. The library's ``Webhook.sign`` computes the signature; its
``verify`` is not used here because it reads the machine's clock for the replay window, and every
time we compare comes from the one injected clock.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from standardwebhooks import Webhook

from leadrelay.shared.security import constant_time_equal

SECRET_PREFIX = "whsec_"
# The library's own tolerance (both directions), so our receivers and theirs agree.
TOLERANCE = timedelta(minutes=5)
# The spec: 24–64 random bytes. 32 is the middle, and what Svix-style tools generate.
SECRET_BYTES = 32
# A webhook-id is ours or an integrator's; bounded so a header cannot grow the signed content.
MAX_ID_CHARS = 200


class SignatureRefused(Exception):
    """The request is not signed by the holder of the secret, or not now. ``reason`` names which
    check failed (missing, malformed, stale, future, mismatch); it carries no request data."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def new_secret() -> str:
    """A fresh signing secret, ``whsec_`` + base64 of 32 random bytes (shown once to its holder)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def is_secret(value: str) -> bool:
    """Whether ``value`` is a usable ``whsec_`` secret (base64 of 24–64 bytes)."""
    if not value.startswith(SECRET_PREFIX):
        return False
    try:
        raw = base64.b64decode(value[len(SECRET_PREFIX):], validate=True)
    except (binascii.Error, ValueError):
        return False
    return 24 <= len(raw) <= 64


def signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256 of "id.timestamp.body">``, computed by the library."""
    return Webhook(secret).sign(msg_id=msg_id, timestamp=datetime.fromtimestamp(timestamp, UTC),
                                data=body.decode("utf-8"))


def signed_headers(secrets_: list[str], msg_id: str, body: bytes, now: datetime) -> dict[str, str]:
    """The three ``webhook-*`` headers for ``body`` sent at ``now``. Several secrets (a rotation
    in progress) give a space-separated list; a receiver accepts any that verifies."""
    timestamp = int(now.timestamp())
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signature(secret, msg_id, timestamp, body) for secret in secrets_),
    }


def verify(secret: str, body: bytes, headers: Mapping[str, str], now: datetime) -> str:
    """Returns the request's ``webhook-id`` when one ``v1`` signature over ``body`` matches and its
    timestamp is within five minutes of ``now``; raises SignatureRefused otherwise. Signatures are
    compared in constant time; unknown versions (``v1a``) are skipped, as the spec says."""
    lowered = {key.lower(): value for key, value in headers.items()}
    msg_id = lowered.get("webhook-id", "")
    stamp = lowered.get("webhook-timestamp", "")
    offered = lowered.get("webhook-signature", "")
    if not (msg_id and stamp and offered):
        raise SignatureRefused("missing")
    if len(msg_id) > MAX_ID_CHARS or "." in msg_id or not stamp.isdigit() or len(stamp) > 12:
        raise SignatureRefused("malformed")
    sent_at = int(stamp)
    if sent_at < (now - TOLERANCE).timestamp():
        raise SignatureRefused("stale")
    if sent_at > (now + TOLERANCE).timestamp():
        raise SignatureRefused("future")
    try:
        expected = signature(secret, msg_id, sent_at, body)
    except UnicodeDecodeError:
        raise SignatureRefused("malformed") from None
    if not any(constant_time_equal(candidate, expected)
               for candidate in offered.split(" ") if candidate.startswith("v1,")):
        raise SignatureRefused("mismatch")
    return msg_id
