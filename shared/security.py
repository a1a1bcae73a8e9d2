"""Credentials: source API keys and bearer tokens, stored only as SHA-256 hashes.

Keys are 32 random bytes, so a fast hash is enough (there is no password to brute-force);
the prefix kept in clear lets an operator tell keys apart in ``sources list``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Literal

SOURCE_KEY_PREFIX = "lrs_"
TOKEN_PREFIX = "lrt_"

# ``integration``: a CRM or other system acting on leads through a signed integration source.
Role = Literal["source", "admin", "manager", "rep", "integration"]


def new_secret(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def visible_prefix(secret: str) -> str:
    return secret[:10]


def constant_time_equal(a: str | bytes, b: str | bytes) -> bool:
    return hmac.compare_digest(a.encode() if isinstance(a, str) else a, b.encode() if isinstance(b, str) else b)


@dataclass(frozen=True)
class Principal:
    """Who is calling. ``name`` is the source name for a source, the rep id for a rep."""

    role: Role
    name: str | None = None
    rep_id: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"
