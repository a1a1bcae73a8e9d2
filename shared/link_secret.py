"""Where the action links' secret comes from: ``LEADRELAY_LINK_SECRET`` when set (distributed mode
refuses to start without it); in embedded mode otherwise, a random one made on first start and
kept in the data dir (``link-secret``, readable by its owner only), so links survive a restart.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from leadrelay.shared.action_links import LinkSettings
from leadrelay.shared.settings import Settings

SECRET_FILE = "link-secret"


def link_secret(settings: Settings) -> str:
    """The secret links are signed and checked with; raises ValueError in distributed mode
    without one (Settings refuses that already)."""
    if settings.link_secret:
        return settings.link_secret
    if settings.mode != "embedded":
        raise ValueError("LEADRELAY_LINK_SECRET must be set in distributed mode")
    return _embedded_secret(settings.data_dir / SECRET_FILE)


def link_settings(settings: Settings) -> LinkSettings:
    """What the notifier needs to put actions on chat messages."""
    return LinkSettings(public_url=settings.public_url, secret=link_secret(settings),
                        slack_callbacks=bool(settings.slack_signing_secret))


def _embedded_secret(path: Path) -> str:
    with contextlib.suppress(FileNotFoundError):
        return _read(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(secrets.token_urlsafe(32) + "\n")
        file.flush()
        os.fsync(file.fileno())
    try:
        # A hard link appears whole or not at all, and never replaces one: of two processes
        # starting at once, one's secret wins and both read it.
        with contextlib.suppress(FileExistsError):
            os.link(draft, path)
    finally:
        draft.unlink()
    return _read(path)


def _read(path: Path) -> str:
    secret = path.read_text(encoding="utf-8").strip()
    if len(secret) < 16:
        raise ValueError(f"{path} holds no usable link secret; delete it to make a new one")
    return secret
