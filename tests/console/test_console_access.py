"""Who may open what in the console: the API's rules, page by page (a lead or a rep outside the
viewer's reach reads as missing: 404), every form refused without the session's CSRF token,
sessions that end (sign-out, idle, absolute, a revoked token) and their cookie."""

from __future__ import annotations

import re

import httpx
import pytest

from leadrelay.shared.security import hash_secret
from leadrelay.shared.shell.console.i18n import t
from tests.console.conftest import Console, csrf_of

# Every page, and what each role gets: 200, 303 (sent on to its own page) or 403 (the role may
# never open it, whatever the data; a 403 says nothing about a lead or a rep).
PAGES = {
    "/console/": {"rep": 303, "manager": 303, "admin": 303},
    "/console/leads": {"rep": 200, "manager": 303, "admin": 303},
    "/console/leads/{mine}": {"rep": 200, "manager": 200, "admin": 200},
    "/console/pool": {"rep": 200, "manager": 200, "admin": 200},
    "/console/team": {"rep": 403, "manager": 200, "admin": 200},
    "/console/board": {"rep": 403, "manager": 200, "admin": 200},
    "/console/fallback": {"rep": 403, "manager": 200, "admin": 200},
    "/console/reps/rep-c/credits": {"rep": 200, "manager": 200, "admin": 200},
}


async def test_every_page_answers_every_role_as_the_api_would(console: Console):
    lead = await console.lead_owned_by("rep-c", 1)
    answers = {}
    for role in ("rep", "manager", "admin"):
        client = await console.signed_in(role)
        for page in PAGES:
            response = await client.get(page.format(mine=lead["lead_id"]))
            answers[(page, role)] = response.status_code
            assert "lr_session" not in response.text  # the session id never reaches a page
    assert answers == {(page, role): status for page, roles in PAGES.items() for role, status in roles.items()}


async def test_another_reps_lead_and_another_teams_lead_read_as_missing(console: Console):
    mine = await console.lead_owned_by("rep-c", 1)
    german = await console.new_lead(40, country="DE")  # the ent team's
    assert german["owner"] == "rep-x"
    missing = "00000000-0000-0000-0000-000000000000"
    other_rep = await console.signed_in("other_rep")
    other_manager = await console.signed_in("other_manager")
    manager = await console.signed_in("manager")

    for client, lead_id in ((other_rep, mine["lead_id"]), (other_manager, mine["lead_id"]),
                            (manager, german["lead_id"]), (other_rep, missing)):
        page = await client.get(f"/console/leads/{lead_id}")
        assert page.status_code == 404
        assert "Person" not in page.text and "@example.com" not in page.text
    # The same 404 for an action on it, and nothing happens.
    token = csrf_of((await other_rep.get("/console/pool")).text)
    acted = await other_rep.post(f"/console/leads/{mine['lead_id']}/act", data={"csrf_token": token,
                                                                                   "action": "accepted"})
    assert acted.status_code == 404
    token = csrf_of((await manager.get("/console/board")).text)
    moved = await manager.post(f"/console/leads/{german['lead_id']}/reassign",
                               data={"csrf_token": token, "to_rep": "rep-c"})
    assert moved.status_code == 404
    assert (await console.pipeline.wait_for(mine["lead_id"], ("assigned",)))["owner"] == "rep-c"
    assert (await console.pipeline.wait_for(german["lead_id"], ("assigned",)))["owner"] == "rep-x"
    # Credits: a rep reads only their own; a manager only their team's.
    assert (await other_rep.get("/console/reps/rep-c/credits")).status_code == 404
    assert (await other_manager.get("/console/reps/rep-c/credits")).status_code == 404
    assert (await manager.get("/console/reps/rep-x/credits")).status_code == 404
    assert (await manager.get("/console/reps/nobody/credits")).status_code == 404


async def test_lists_show_only_what_the_viewer_may_see(console: Console):
    mine = await console.lead_owned_by("rep-c", 1)
    german = await console.new_lead(40, country="DE")
    rep_page = (await (await console.signed_in("rep")).get("/console/leads")).text
    other_page = (await (await console.signed_in("other_rep")).get("/console/leads")).text
    team_page = (await (await console.signed_in("manager")).get("/console/team")).text
    admin_page = (await (await console.signed_in("admin")).get("/console/team")).text
    assert mine["lead_id"] in rep_page and mine["lead_id"] not in other_page
    assert mine["lead_id"] in team_page and german["lead_id"] not in team_page
    assert mine["lead_id"] in admin_page and german["lead_id"] in admin_page


@pytest.mark.parametrize("path", ["/console/", "/console/leads", "/console/board", "/console/pool",
                                  "/console/leads/some-lead", "/console/reps/rep-c/credits"])
async def test_a_visitor_without_a_session_is_sent_to_sign_in_and_back(console: Console, path: str):
    client = console.client()
    response = await client.get(path)
    assert response.status_code == 303
    assert response.headers["location"] == f"/console/signin?next={path}"
    signed = await console.sign_in(client, await console.token("admin"), next_path=path)
    assert signed.status_code == 303 and signed.headers["location"] == path


async def test_the_root_opens_the_console(console: Console):
    response = await console.client().get("/")
    assert response.status_code == 303 and response.headers["location"] == "/console/"


async def test_every_form_is_refused_without_the_sessions_csrf_token(console: Console):
    lead = await console.lead_owned_by("rep-c", 1)
    rep, manager = await console.signed_in("rep"), await console.signed_in("manager")
    other = await console.signed_in("other_rep")
    others_token = csrf_of((await other.get("/console/pool")).text)  # a real token, of another session
    forms = [
        (rep, f"/console/leads/{lead['lead_id']}/act", {"action": "accepted"}),
        (rep, f"/console/pool/{lead['lead_id']}/claim", {}),
        (manager, f"/console/leads/{lead['lead_id']}/reassign", {"to_rep": "rep-d"}),
        (manager, "/console/reps/rep-c/credits", {"delta": "1", "reason": "a junk lead"}),
        (rep, "/console/lang", {"lang": "zh"}),
        (rep, "/console/signout", {}),
    ]
    for client, path, fields in forms:
        for token in (None, "", others_token, "x" * 64):
            data = dict(fields, **({"csrf_token": token} if token is not None else {}))
            response = await client.post(path, data=data)
            assert response.status_code == 403, (path, token, response.status_code)
            assert t("en", "error.csrf") in response.text or t("zh", "error.csrf") in response.text  # mgr-s reads zh
    # Nothing happened: the lead is untouched, the rep still signed in, no credit recorded.
    assert (await console.pipeline.wait_for(lead["lead_id"], ("assigned",)))["owner"] == "rep-c"
    assert (await rep.get("/console/leads")).status_code == 200
    assert "a junk lead" not in (await manager.get("/console/reps/rep-c/credits")).text


async def test_sign_in_takes_a_console_token_and_explains_a_wrong_one(console: Console):
    client = console.client()
    page = await client.get("/console/signin")
    assert "leadrelay tokens create --role admin" in page.text and "leadrelay reps token" in page.text
    refused = await console.sign_in(client, "lrt_not-a-real-token")
    assert refused.status_code == 401 and "unknown or revoked" in refused.text
    source = await console.sign_in(client, console.pipeline.source_key)
    assert source.status_code == 401 and "source key can&#39;t sign in" in source.text
    assert "lr_session" not in client.cookies
    # The sign-in form has its own CSRF token (there is no session yet): another site can't sign
    # a browser in as someone else.
    forged = await client.post("/console/signin", data={"token": await console.token("admin"), "next": "/console/"})
    assert forged.status_code == 403 and "lr_session" not in client.cookies


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/v1/leads", "/console\\@evil"])
async def test_sign_in_goes_back_only_to_a_console_page(console: Console, target: str):
    signed = await console.sign_in(console.client(), await console.token("rep"), next_path=target)
    assert signed.status_code == 303 and signed.headers["location"] == "/console/"


async def test_the_session_cookie_is_httponly_lax_and_secure_behind_https(console: Console):
    plain = await console.sign_in(console.client(), await console.token("rep"))
    cookie = plain.headers["set-cookie"]
    assert re.match(r"lr_session=[\w-]{40,};", cookie)
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/console" in cookie
    assert "Secure" not in cookie
    https = httpx.AsyncClient(transport=httpx.ASGITransport(app=console.client()._transport.app),  # type: ignore[attr-defined]
                              base_url="https://leadrelay.test")
    console.clients.append(https)
    secure = await console.sign_in(https, await console.token("rep"))
    assert "Secure" in secure.headers["set-cookie"]
    # Only the session id's hash is stored.
    session_id = https.cookies["lr_session"]
    async with console.pipeline.runtime.store.read() as uow:
        assert await uow.console_sessions.get(session_id) is None
        assert await uow.console_sessions.get(hash_secret(session_id)) is not None


async def test_sign_out_ends_the_session_for_good(console: Console):
    client = await console.signed_in("rep")
    session_id = client.cookies["lr_session"]
    token = csrf_of((await client.get("/console/leads")).text)
    out = await client.post("/console/signout", data={"csrf_token": token})
    assert out.status_code == 303 and out.headers["location"] == "/console/signin?reason=signed_out"
    again = console.client()
    again.cookies.set("lr_session", session_id, domain="leadrelay.test", path="/console")
    response = await again.get("/console/leads")
    assert response.status_code == 303 and response.headers["location"].startswith("/console/signin")


async def test_an_idle_session_ends_and_a_used_one_ends_after_its_maximum(console: Console):
    settings = console.pipeline.runtime.settings
    idle = await console.signed_in("rep")
    console.clock.advance(seconds=settings.console_session_idle_s - 60)
    assert (await idle.get("/console/leads")).status_code == 200  # used: idle time starts again
    console.clock.advance(seconds=settings.console_session_idle_s - 60)
    assert (await idle.get("/console/leads")).status_code == 200
    console.clock.advance(seconds=settings.console_session_idle_s + 1)
    ended = await idle.get("/console/leads")
    assert ended.status_code == 303 and ended.headers["location"] == "/console/signin?next=/console/leads&reason=expired"
    assert "signed in again" not in (await idle.get(ended.headers["location"])).text

    busy = await console.signed_in("rep")
    for _ in range(settings.console_session_max_s // settings.console_session_idle_s + 1):
        console.clock.advance(seconds=settings.console_session_idle_s - 60)
        response = await busy.get("/console/leads")
    assert response.status_code == 303 and "reason=expired" in response.headers["location"]


async def test_revoking_the_token_ends_its_sessions(console: Console):
    client = console.client()
    token = await console.token("rep")
    await console.sign_in(client, token)
    assert (await client.get("/console/leads")).status_code == 200
    async with console.pipeline.runtime.store.transaction() as uow:
        assert await uow.tokens.revoke(hash_secret(token))
    assert (await client.get("/console/leads")).status_code == 303


async def test_console_forms_are_held_to_the_body_limit(console: Console):
    client = await console.signed_in("rep")
    token = csrf_of((await client.get("/console/leads")).text)
    limit = console.pipeline.runtime.settings.max_body_bytes
    response = await client.post("/console/lang", data={"csrf_token": token, "lang": "zh", "next": "x" * limit})
    assert response.status_code == 413
    signin = await console.client().post("/console/signin", data={"token": "lrt_" + "x" * limit})
    assert signin.status_code == 413


async def test_console_pages_are_not_in_the_openapi_document(console: Console):
    document = (await console.client().get("/openapi.json")).json()
    assert not [path for path in document["paths"] if path == "/" or path.startswith("/console")]


async def test_a_lead_in_another_teams_pool_cannot_be_claimed_or_seen(console: Console):
    german = await console.new_lead(40, country="DE")
    ent_rep = await console.signed_in("ent_rep")
    token = csrf_of((await ent_rep.get(f"/console/leads/{german['lead_id']}")).text)
    handed = await ent_rep.post(f"/console/leads/{german['lead_id']}/act",
                                data={"csrf_token": token, "action": "not_mine", "reason": "Not my territory"})
    assert handed.status_code == 303
    rep = await console.signed_in("rep")
    pool = await rep.get("/console/pool")
    assert german["lead_id"] not in pool.text
    refused = await rep.post(f"/console/pool/{german['lead_id']}/claim", data={"csrf_token": csrf_of(pool.text)})
    assert refused.status_code == 404 and "not in a pool you can claim from" in refused.text
    assert (await console.pipeline.wait_for(german["lead_id"], ("pool",)))["owner"] is None
