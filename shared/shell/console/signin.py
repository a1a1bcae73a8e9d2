"""Sign-in, sign-out, the language switch, the home page by role, and the static files."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from leadrelay.shared.security import constant_time_equal
from leadrelay.shared.shell.console.i18n import as_lang
from leadrelay.shared.shell.console.render import NO_STORE, not_found, render
from leadrelay.shared.shell.console.session import (
    COOKIE,
    ConsoleUserDep,
    CsrfFormDep,
    browser_lang,
    cookie_is_secure,
    end_session,
    safe_next,
    set_session_lang,
    start_session,
)
from leadrelay.shared.web.deps import ClockDep, SettingsDep, StoreDep

STATIC_DIR = Path(__file__).parent / "static"
STATIC_TYPES = {".css": "text/css", ".js": "text/javascript", ".svg": "image/svg+xml", ".png": "image/png"}
# The sign-in form's own CSRF token (there is no session yet): a cookie and a hidden field that
# must match, so another site can't sign a browser in as someone else.
SIGNIN_COOKIE = "lr_signin"
# How long a browser keeps the session cookie; the server ends the session sooner when unused.
COOKIE_MAX_AGE_S = 7 * 24 * 3600


def signin_router() -> APIRouter:
    router = APIRouter()

    @router.get("/console/static/{name}")
    async def static(name: str) -> Response:
        path = STATIC_DIR / name
        if "/" in name or name.startswith(".") or path.suffix not in STATIC_TYPES or not path.is_file():
            return Response(status_code=404)
        return FileResponse(path, media_type=STATIC_TYPES[path.suffix], headers={"Cache-Control": "max-age=300"})

    @router.get("/console/signin")
    async def signin_page(request: Request, settings: SettingsDep, next: str | None = None,
                          reason: str | None = None) -> HTMLResponse:
        return signin_form(request, settings, safe_next(next),
                           {"expired": "signin.expired", "signed_out": "signin.signed_out"}.get(reason or ""))

    @router.post("/console/signin")
    async def signin(request: Request, store: StoreDep, clock: ClockDep, settings: SettingsDep,
                     token: Annotated[str, Form(max_length=200)] = "", next: Annotated[str, Form(max_length=2000)] = "",
                     lang: Annotated[str, Form(max_length=8)] = "",
                     signin_csrf: Annotated[str, Form(max_length=100)] = "") -> Response:
        cookie = request.cookies.get(SIGNIN_COOKIE, "")
        if not cookie or not constant_time_equal(cookie, signin_csrf):
            return signin_form(request, settings, safe_next(next), "error.csrf", status_code=403)
        started = await start_session(store, settings, clock(), token, as_lang(lang))
        if started is None:
            key = "signin.not_console" if token.strip().startswith("lrs_") else "signin.refused"
            return signin_form(request, settings, safe_next(next), key, status_code=401)
        session_id, _ = started
        response = RedirectResponse(safe_next(next), status_code=303, headers=NO_STORE)
        response.set_cookie(COOKIE, session_id, max_age=COOKIE_MAX_AGE_S, path="/console", httponly=True,
                            samesite="lax", secure=cookie_is_secure(request, settings))
        response.delete_cookie(SIGNIN_COOKIE, path="/console/signin")
        return response

    @router.post("/console/signout")
    async def signout(user: ConsoleUserDep, _csrf: CsrfFormDep, store: StoreDep) -> Response:
        await end_session(store, user.session_hash)
        response = RedirectResponse("/console/signin?reason=signed_out", status_code=303, headers=NO_STORE)
        response.delete_cookie(COOKIE, path="/console")
        return response

    @router.post("/console/lang")
    async def switch_language(user: ConsoleUserDep, _csrf: CsrfFormDep, store: StoreDep,
                              lang: Annotated[str, Form(max_length=8)] = "",
                              next: Annotated[str, Form(max_length=2000)] = "") -> Response:
        chosen = as_lang(lang)
        if chosen is not None:
            await set_session_lang(store, user.session_hash, chosen)
        return RedirectResponse(safe_next(next), status_code=303, headers=NO_STORE)

    @router.get("/console/")
    async def home(request: Request, user: ConsoleUserDep) -> Response:
        if user.role == "rep":
            return RedirectResponse("/console/leads", status_code=303)
        if user.role in ("manager", "admin"):
            return RedirectResponse("/console/board", status_code=303)
        return not_found(request, user)

    return router


def signin_form(request: Request, settings: SettingsDep, next_path: str, message_key: str | None,
                status_code: int = 200) -> HTMLResponse:
    nonce = secrets.token_urlsafe(24)
    error = message_key in ("signin.refused", "signin.not_console", "error.csrf")
    response = render(request, None, "signin.html", status_code=status_code, next=next_path,
                      message_key=message_key, message_kind="error" if error else "ok", signin_csrf=nonce,
                      lang=browser_lang(request))
    response.set_cookie(SIGNIN_COOKIE, nonce, max_age=3600, path="/console/signin", httponly=True,
                        samesite="lax", secure=cookie_is_secure(request, settings))
    return response
