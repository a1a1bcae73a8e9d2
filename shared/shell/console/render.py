"""Pages from the package's Jinja templates (autoescaped), in the viewer's language and time zone.

``render(request, user, "page.html", **ctx)`` gives every template ``user``, ``lang``, ``t``
(``t('key', name=...)`` in the viewer's language), ``csrf_token`` and the filters ``when``
(a time in the viewer's time zone) and ``left`` (a signed duration: "in 42 min" / "3 h ago").
"""

from __future__ import annotations

import zoneinfo
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context

from leadrelay.shared.shell.console.i18n import MESSAGES, Lang, t
from leadrelay.shared.shell.console.session import ConsoleUser, browser_lang

TEMPLATES_DIR = Path(__file__).parent / "templates"
templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
# Pages are never cached by a browser or proxy: they show contact details and one-time keys.
NO_STORE = {"Cache-Control": "no-store", "X-Frame-Options": "DENY", "Referrer-Policy": "same-origin",
            "X-Content-Type-Options": "nosniff"}


@pass_context
def _t(context: Any, key: str, **fmt: object) -> str:
    return t(context.get("lang", "en"), key, **fmt)


def format_when(value: datetime | None, tz: str, lang: str = "en") -> str:
    """A stored UTC time as the viewer reads it: ``2041-03-04 13:06 (Asia/Shanghai)``."""
    if value is None:
        return "—"
    local = value.astimezone(zoneinfo.ZoneInfo(tz))
    return local.strftime("%Y-%m-%d %H:%M")


def format_left(seconds: float | None, lang: str = "en") -> str:
    """A signed duration in words: positive is still to come, negative is past."""
    if seconds is None:
        return "—"
    past = seconds < 0
    total = int(abs(seconds)) // 60
    days, rest = divmod(total, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if lang == "zh":
        parts = (f"{days}天" if days else "") + (f"{hours}小时" if hours else "") + (
            f"{minutes}分钟" if minutes or not (days or hours) else "")
        return f"已超时 {parts}" if past else f"剩余 {parts}"
    parts = " ".join(p for p in ((f"{days} d" if days else ""), (f"{hours} h" if hours else ""),
                                 (f"{minutes} min" if minutes or not (days or hours) else "")) if p)
    return f"{parts} overdue" if past else f"{parts} left"


@pass_context
def _when(context: Any, value: datetime | None) -> str:
    user = context.get("user")
    return format_when(value, user.tz if user else "UTC", context.get("lang", "en"))


@pass_context
def _left(context: Any, seconds: float | None) -> str:
    return format_left(seconds, context.get("lang", "en"))


@pass_context
def _word(context: Any, prefix: str, value: str) -> str:
    """``t(prefix + value)`` when the catalogue has it, else the value as stored."""
    key = f"{prefix}.{value}"
    return t(context.get("lang", "en"), key) if key in MESSAGES else value


templates.env.globals["t"] = _t
templates.env.globals["word"] = _word
templates.env.filters["when"] = _when
templates.env.filters["left"] = _left


def render(request: Request, user: ConsoleUser | None, template: str, status_code: int = 200,
           **context: Any) -> HTMLResponse:
    lang: Lang = user.lang if user is not None else browser_lang(request)
    return templates.TemplateResponse(
        request, template, {"user": user, "lang": lang, "csrf_token": user.csrf_token if user else "",
                            "path": request.url.path, **context},
        status_code=status_code, headers=NO_STORE)


def not_found(request: Request, user: ConsoleUser | None) -> HTMLResponse:
    """The same page for "there is no such lead" and "it is not yours": a 404 tells nothing."""
    return render(request, user, "error.html", status_code=404, title_key="error.not_found",
                  message_key="error.not_found_text")


def refused(request: Request, user: ConsoleUser | None, message_key: str) -> HTMLResponse:
    return render(request, user, "error.html", status_code=403, title_key="error.forbidden",
                  message_key=message_key)
