"""The web console: server-rendered pages for reps, managers and sales ops, over the same use
cases and access rules as the JSON API (a UI adapter, like the CLI, so it lives in the shell).

``console_routers()`` has every console route (all under ``/console``, none in the OpenAPI
document); ``install_console(app)`` adds what a router can't carry: the answers to "sign in
first" (303 to the sign-in page) and to a refused form or role (a 403 page).
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute

from leadrelay.shared.shell.console import manager_pages, ops_pages, rep_pages
from leadrelay.shared.shell.console.render import NO_STORE, refused
from leadrelay.shared.shell.console.session import CsrfRefused, RoleRefused, SignInRequired, signin_location
from leadrelay.shared.shell.console.signin import signin_router

__all__ = ["console_routers", "install_console"]


def console_routers() -> list[APIRouter]:
    """Every console router, to include in the app as they are (their paths are whole: the body
    limits of ``shared/web/body_limit.py`` are read from the routers the app is given, and an
    included router's routes are not flattened into its parent, so they are not nested)."""
    root = APIRouter()

    @root.get("/")
    async def home() -> RedirectResponse:
        return RedirectResponse("/console/", status_code=303)

    routers = [root, signin_router(), rep_pages.rep_router(), manager_pages.manager_router(), ops_pages.ops_router()]
    for router in routers:
        for route in router.routes:
            if isinstance(route, APIRoute):
                route.include_in_schema = False  # pages, not the JSON API: kept out of OpenAPI
    return routers


def install_console(app: FastAPI) -> None:
    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, exc: SignInRequired) -> Response:
        response = RedirectResponse(signin_location(exc.next_path, exc.reason), status_code=303, headers=NO_STORE)
        if exc.reason == "expired":
            response.delete_cookie("lr_session", path="/console")
        return response

    @app.exception_handler(CsrfRefused)
    async def _csrf(request: Request, exc: CsrfRefused) -> HTMLResponse:
        return refused(request, exc.user, "error.csrf")

    @app.exception_handler(RoleRefused)
    async def _role(request: Request, exc: RoleRefused) -> HTMLResponse:
        return refused(request, exc.user, "error.role")
