"""Secrets we must read back (webhook signing secrets, CRM credentials, integrations' signing
secrets) are stored encrypted, never in clear: a database dump or backup alone does not let
anyone sign as us or call a CRM as us.

The key is derived (HKDF-SHA256, its own label) from the link secret every service already has
(``shared/link_secret.py``), so no new setting must be shared; rotating the link secret therefore
makes stored secrets unreadable: rotate the webhook secrets afterwards (``POST
/v1/webhooks/{id}/rotate-secret``). Fernet (AES-128-CBC + HMAC-SHA256) detects tampering.
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_LABEL = b"leadrelay stored secrets v1"


class SecretUnreadable(Exception):
    """A stored secret cannot be decrypted: tampered with, or stored under another link secret."""


class SecretBox:
    def __init__(self, master_secret: str) -> None:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_LABEL).derive(master_secret.encode())
        self._fernet = Fernet(base64.urlsafe_b64encode(key))

    def seal(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode()).decode()

    def open(self, sealed: str) -> str:
        """Returns the secret; raises SecretUnreadable."""
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except (InvalidToken, ValueError):
            raise SecretUnreadable("a stored secret cannot be decrypted with this link secret") from None
