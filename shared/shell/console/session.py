"""Signing in to the console: a bearer token exchanged once for a server-side session.

The cookie ``lr_session`` carries a random session id; the store keeps only its hash and the
token's hash (``uow.console_sessions``), so whoever reads the database can't take over a session,
and revoking the token ends its sessions on their next request. A session ends after
``console_session_idle_s`` unused and ``console_session_max_s`` after sign-in, on the runtime's
clock. Every form carries ``csrf_token``, derived from the session id (never stored): a page of
another site can post to us with the cookie, but can't read the token.

Pages ask for ``user: ConsoleUserDep``: an anonymous visitor is sent to the sign-in page (and
back to ``next`` afterwards); a form handler also asks for ``CsrfFormDep``.
"""

from __future__ import annotations

import secrets
import zoneinfo
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request

from leadrelay.shared.policy import Policy
from leadrelay.shared.ports import ConsoleSessionRecord, Store
from leadrelay.shared.security import TOKEN_PREFIX, Principal, constant_time_equal, hash_secret
from leadrelay.shared.settings import Settings
from leadrelay.shared.shell.console.i18n import Lang, as_lang, pick_language
from leadrelay.shared.web.deps import ClockDep, SettingsDep, StoreDep

COOKIE = "lr_session"
CONSOLE_ROLES = ("admin", "manager", "rep")
CSRF_FIELD = "csrf_token"
# A page view marks its session as used at most this often: not a write per page on SQLite's one
# writer (the idle limit is hours, so a minute's slack changes nothing).
TOUCH_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class ConsoleUser:
    """Who is looking at a console page, and how to show it to them."""

    principal: Principal  # the same caller type the JSON API checks
    lang: Lang
    csrf_token: str
    tz: str  # IANA name: the rep's time zone from the policy, else the policy's, else UTC
    session_hash: str

    @property
    def role(self) -> str:
        return self.principal.role

    @property
    def rep_id(self) -> str | None:
        return self.principal.rep_id


class SignInRequired(Exception):
    """No live session: the handler sends the browser to the sign-in page, then back to ``next``."""

    def __init__(self, next_path: str, reason: str | None = None) -> None:
        super().__init__(next_path)
        self.next_path = next_path
        self.reason = reason  # "expired" when there was a session that ended


class CsrfRefused(Exception):
    """A form post without the session's CSRF token (or with another): answered 403."""

    def __init__(self, user: ConsoleUser | None) -> None:
        super().__init__("csrf")
        self.user = user


class RoleRefused(Exception):
    """A signed-in person whose role can't open the page: answered 403."""

    def __init__(self, user: ConsoleUser) -> None:
        super().__init__("role")
        self.user = user


def csrf_for(session_id: str) -> str:
    return hash_secret("console-csrf:" + session_id)


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a console path only (never another site: ``//evil``)."""
    if value and value.startswith("/console") and not value.startswith("//") and "\\" not in value:
        return value
    return "/console/"


def signin_location(next_path: str, reason: str | None = None) -> str:
    location = "/console/signin?next=" + quote(safe_next(next_path), safe="/")
    return location + (f"&reason={reason}" if reason else "")


def cookie_is_secure(request: Request, settings: Settings) -> bool:
    """Secure when the browser reached us over https (directly or as LEADRELAY_PUBLIC_URL says)."""
    return request.url.scheme == "https" or (settings.public_url or "").startswith("https://")


def session_expired(session: ConsoleSessionRecord, now: datetime, settings: Settings) -> bool:
    return (now - session.last_seen_at > timedelta(seconds=settings.console_session_idle_s)
            or now - session.created_at > timedelta(seconds=settings.console_session_max_s))


def browser_lang(request: Request) -> Lang:
    """``?lang=`` on the address, else the browser's Accept-Language."""
    return as_lang(request.query_params.get("lang")) or pick_language(request.headers.get("accept-language"))


async def start_session(store: Store, settings: Settings, now: datetime, token: str, lang: Lang | None
                        ) -> tuple[str, Principal] | None:
    """Exchanges a token for a new session: (the session id for the cookie, who signed in), or
    None when the token is no admin/manager/rep token in force. Clears ended sessions meanwhile."""
    token = token.strip()
    if not token.startswith(TOKEN_PREFIX):
        return None
    token_hash = hash_secret(token)
    session_id = secrets.token_urlsafe(32)
    async with store.transaction() as uow:
        row = await uow.tokens.by_hash(token_hash)
        if row is None or row.role not in CONSOLE_ROLES:
            return None
        await uow.console_sessions.forget_older(
            created_before=now - timedelta(seconds=settings.console_session_max_s),
            seen_before=now - timedelta(seconds=settings.console_session_idle_s))
        await uow.console_sessions.add(hash_secret(session_id), token_hash, lang)
    return session_id, Principal(role=row.role, name=row.rep_id, rep_id=row.rep_id)  # type: ignore[arg-type]


async def end_session(store: Store, session_hash: str) -> None:
    async with store.transaction() as uow:
        await uow.console_sessions.delete(session_hash)


async def set_session_lang(store: Store, session_hash: str, lang: Lang) -> None:
    async with store.transaction() as uow:
        await uow.console_sessions.set_lang(session_hash, lang)


def requested_path(request: Request) -> str:
    """The page asked for, to come back to after signing in (its query has no PII: pages take ids)."""
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


async def current_user(request: Request, store: StoreDep, clock: ClockDep, settings: SettingsDep) -> ConsoleUser:
    session_id = request.cookies.get(COOKIE)
    if not session_id:
        raise SignInRequired(requested_path(request))
    session_hash = hash_secret(session_id)
    now = clock()
    async with store.read() as uow:
        session = await uow.console_sessions.get(session_hash)
        token = None if session is None else await uow.tokens.by_hash(session.token_hash)
        current = await uow.policies.current()
    if session is None or token is None or token.role not in CONSOLE_ROLES or session_expired(session, now, settings):
        if session is not None:
            await end_session(store, session_hash)
        raise SignInRequired(requested_path(request), "expired")
    if now - session.last_seen_at >= TOUCH_EVERY:
        async with store.transaction() as uow:
            await uow.console_sessions.touch(session_hash)
    principal = Principal(role=token.role, name=token.rep_id, rep_id=token.rep_id)  # type: ignore[arg-type]
    tz, person_lang = person_settings(current[1] if current else None, principal)
    lang = as_lang(request.query_params.get("lang")) or as_lang(session.lang) or person_lang or pick_language(
        request.headers.get("accept-language"))
    return ConsoleUser(principal=principal, lang=lang, csrf_token=csrf_for(session_id), tz=tz,
                       session_hash=session_hash)


def person_settings(policy: Policy | None, principal: Principal) -> tuple[str, Lang | None]:
    """(time zone, language) the policy gives the person: a rep's own time zone, else the
    policy's; the first of their ``languages`` we have. (UTC, None) without a policy."""
    if policy is None:
        return "UTC", None
    tz = policy.timezone
    languages: tuple[str, ...] = ()
    if principal.role == "rep" and principal.rep_id:
        rep = next((r for r in policy.reps if r.id == principal.rep_id), None)
        if rep is not None:
            tz, languages = rep.timezone or policy.timezone, rep.languages
    elif principal.role == "manager" and principal.rep_id:
        manager = policy.manager(principal.rep_id)
        languages = manager.languages if manager is not None else ()
    lang = next((as_lang(name.lower().split("-")[0]) for name in languages
                 if as_lang(name.lower().split("-")[0])), None)
    zoneinfo.ZoneInfo(tz)  # a policy's time zones are checked on load: this never fails
    return tz, lang


async def require_csrf(request: Request, user: Annotated[ConsoleUser, Depends(current_user)]) -> None:
    form = await request.form()
    sent = form.get(CSRF_FIELD)
    if not isinstance(sent, str) or not constant_time_equal(sent, user.csrf_token):
        raise CsrfRefused(user)


def require_roles(*roles: str):  # type: ignore[no-untyped-def]
    """A dependency refusing (403 page) the signed-in roles not in ``roles``:
    ``user: Annotated[ConsoleUser, Depends(require_roles("admin"))]``."""

    async def check(user: Annotated[ConsoleUser, Depends(current_user)]) -> ConsoleUser:
        if user.role not in roles:
            raise RoleRefused(user)
        return user

    return check


ConsoleUserDep = Annotated[ConsoleUser, Depends(current_user)]
CsrfFormDep = Annotated[None, Depends(require_csrf)]
AdminUserDep = Annotated[ConsoleUser, Depends(require_roles("admin"))]
ManagerUserDep = Annotated[ConsoleUser, Depends(require_roles("admin", "manager"))]
