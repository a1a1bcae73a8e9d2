"""What reps and managers do in the console, through the same use cases as the API: a rep's list
(open first, SLA countdown in their time zone, grade and reasons), actions on the lead page, the
pool with claim (limits and cooldowns explained), the manager's filters, SLA board, reassign,
credits and fallback queue; both languages."""

from __future__ import annotations

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.conftest import SLA_EPOCHS, FakeClock
from tests.console.conftest import Console, csrf_of


@pytest.fixture(params=sorted(SLA_EPOCHS))
def clock(request: pytest.FixtureRequest) -> FakeClock:
    """These pages show times and countdowns: years in the past and in the future."""
    return FakeClock(SLA_EPOCHS[request.param])


def shanghai(clock: FakeClock, minutes: int) -> str:
    """The clock's start plus ``minutes``, as a Shanghai viewer reads it on a page."""
    return (clock.start + timedelta(minutes=minutes)).astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M")


async def post_form(client: httpx.AsyncClient, page: str, target: str, **fields: str) -> httpx.Response:
    """Posts a form the way the browser would: from the page, with the page's CSRF token."""
    token = csrf_of((await client.get(page)).text)
    return await client.post(target, data={"csrf_token": token, **fields})


async def test_my_leads_lists_open_leads_first_with_their_countdown_grade_and_reasons(console: Console):
    hot = await console.lead_owned_by("rep-c", 1)  # Person n, big companies are hot
    rep = await console.signed_in("rep")
    page = await rep.get("/console/leads")
    assert hot["lead_id"] in page.text
    # A cold lead's first touch is due in 30 min: the countdown, its time in Asia/Shanghai.
    assert "Times in Asia/Shanghai." in page.text
    assert re.search(r'class="soon" data-due="[^"]+">30 min left', page.text), page.text
    assert f"first touch by · {shanghai(console.clock, 30)}" in page.text  # read in Shanghai
    assert "first touch by" in page.text and "cold" in page.text

    big = await console.new_lead(30, employees=2000)
    assert big["grade"] == "hot"
    owner = console.client()
    await console.sign_in(owner, await console.pipeline.token("rep", big["owner"]))
    listed = (await owner.get("/console/leads")).text
    assert "big-company (+70)" in listed and "15 min left" in listed
    converted = await post_form(rep, f"/console/leads/{hot['lead_id']}", f"/console/leads/{hot['lead_id']}/act",
                                action="converted")
    assert converted.status_code == 303
    order = re.findall(r'<tr data-lead="([^"]+)"', (await rep.get("/console/leads")).text)
    assert order[-1] == hot["lead_id"]  # closed leads after the open ones


async def test_a_rep_accepts_contacts_and_closes_a_lead_from_its_page(console: Console):
    lead = await console.lead_owned_by("rep-c", 1)
    rep = await console.signed_in("rep")
    page = (await rep.get(f"/console/leads/{lead['lead_id']}")).text
    assert "p1@example.com" in page or "@example.com" in page  # contact details on the lead page
    assert 'id="act-accepted"' in page and 'id="act-lost"' in page and 'id="reassign"' not in page

    accepted = await post_form(rep, f"/console/leads/{lead['lead_id']}", f"/console/leads/{lead['lead_id']}/act",
                               action="accepted")
    assert accepted.status_code == 303
    assert accepted.headers["location"] == f"/console/leads/{lead['lead_id']}?done=accepted"
    shown = (await rep.get(accepted.headers["location"])).text
    assert "Accepted: the lead is yours." in shown and 'data-state="accepted"' in shown
    assert 'id="act-accepted"' not in shown  # no longer offered

    # Lost needs a reason: refused on the page, in words, and nothing changes.
    no_reason = await post_form(rep, f"/console/leads/{lead['lead_id']}", f"/console/leads/{lead['lead_id']}/act",
                                action="lost")
    assert no_reason.status_code == 422 and "Say why the lead was lost." in no_reason.text
    lost = await post_form(rep, f"/console/leads/{lead['lead_id']}", f"/console/leads/{lead['lead_id']}/act",
                           action="lost", reason="No budget")
    assert lost.status_code == 303
    view = await console.pipeline.wait_for(lead["lead_id"], ("lost",))
    assert [(h["kind"], h.get("via")) for h in view["history"] if h["kind"] in ("accepted", "lost")] == [
        ("accepted", "console"), ("lost", "console")]
    again = await post_form(rep, f"/console/leads/{lead['lead_id']}", f"/console/leads/{lead['lead_id']}/act",
                            action="contacted")  # the form of a stale page
    assert again.status_code == 409 and "Nothing done: the lead is lost now." in again.text


async def test_the_pool_claim_explains_the_cooldown_and_the_daily_limit(console: Console):
    lead = await console.lead_owned_by("rep-c", 1)
    rep, other = await console.signed_in("rep"), await console.signed_in("other_rep")
    handed = await post_form(rep, f"/console/leads/{lead['lead_id']}", f"/console/leads/{lead['lead_id']}/act",
                             action="not_mine", reason="Not my territory")
    assert handed.status_code == 303 and handed.headers["location"] == "/console/leads?done=not_mine"
    pool = (await rep.get("/console/pool")).text
    assert lead["lead_id"] in pool and "Up to 1 claims in 24 hours." in pool and "only after 3 days" in pool

    # Its old owner waits out the cooldown, told until when (in their time zone).
    refused = await post_form(rep, "/console/pool", f"/console/pool/{lead['lead_id']}/claim")
    assert refused.status_code == 409
    assert "You had this lead before: you can claim it again after" in refused.text and "(Asia/Shanghai)" in refused.text

    claimed = await post_form(other, "/console/pool", f"/console/pool/{lead['lead_id']}/claim")
    assert claimed.status_code == 303 and claimed.headers["location"] == f"/console/leads/{lead['lead_id']}?done=claimed"
    assert "Claimed: the lead is yours." in (await other.get(claimed.headers["location"])).text
    assert (await console.pipeline.wait_for(lead["lead_id"], ("assigned",)))["owner"] == "rep-d"

    # A second claim within 24 hours is over the policy's limit of one.
    second = await console.lead_owned_by("rep-c", 10)
    await post_form(rep, f"/console/leads/{second['lead_id']}", f"/console/leads/{second['lead_id']}/act",
                    action="not_mine", reason="Not my product line")
    over = await post_form(other, "/console/pool", f"/console/pool/{second['lead_id']}/claim")
    assert over.status_code == 409 and "limit of 1 claims in 24 hours" in over.text
    # And a lead someone else took: said so.
    taken = await post_form(rep, "/console/pool", f"/console/pool/{lead['lead_id']}/claim")
    assert taken.status_code in (404, 409) and "You had this lead before" not in taken.text


async def test_the_manager_filters_the_team_sees_the_board_and_reassigns(console: Console):
    lead = await console.lead_owned_by("rep-c", 1)
    manager = await console.signed_in("manager")
    board = (await manager.get("/console/board")).text  # mgr-s reads Chinese (the policy says so)
    assert "SLA 看板" in board and lead["lead_id"] in board.split('id="breaking"')[1].split("</section>")[0]
    assert re.search(r'data-rep="rep-p">.*?已暂停', board, re.S)  # the paused rep, said so
    assert "剩余 30分钟" in board and "已分配" in board and f"首次联系时限 · {shanghai(console.clock, 30)}" in board

    console.clock.advance(minutes=31)  # past the cold lead's 30-minute first touch
    await console.pipeline.wait_for(lead["lead_id"], ("assigned",))
    breached = (await manager.get("/console/team", params={"sla": "breached"})).text
    assert lead["lead_id"] in breached
    assert lead["lead_id"] not in (await manager.get("/console/team", params={"rep": "rep-d"})).text
    assert lead["lead_id"] in (await manager.get("/console/team", params={"rep": "rep-c", "state": "assigned"})).text

    outside = await post_form(manager, f"/console/leads/{lead['lead_id']}",
                              f"/console/leads/{lead['lead_id']}/reassign", to_rep="rep-x")
    assert outside.status_code == 422 and "请选择你团队中的销售。" in outside.text
    moved = await post_form(manager, f"/console/leads/{lead['lead_id']}",
                            f"/console/leads/{lead['lead_id']}/reassign", to_rep="rep-d", reason="rep-c is out")
    assert moved.status_code == 303
    view = await console.pipeline.wait_for(lead["lead_id"], ("assigned",))
    assert view["owner"] == "rep-d"


async def test_credits_show_the_ledger_and_only_managers_change_them(console: Console):
    manager, rep = await console.signed_in("manager"), await console.signed_in("rep")
    granted = await post_form(manager, "/console/reps/rep-c/credits", "/console/reps/rep-c/credits",
                              delta="2", reason="two junk leads")
    assert granted.status_code == 303
    page = (await rep.get("/console/reps/rep-c/credits")).text
    assert 'id="balance">+2<' in page and "two junk leads" in page and 'id="grant"' not in page
    refused = await post_form(rep, "/console/reps/rep-c/credits", "/console/reps/rep-c/credits",
                              delta="5", reason="more for me")
    assert refused.status_code == 403
    assert "more for me" not in (await rep.get("/console/reps/rep-c/credits")).text


async def test_the_fallback_queue_lists_what_waits_for_an_owner(console: Console):
    admin = await console.signed_in("admin")
    page = await admin.get("/console/fallback")
    assert page.status_code == 200 and "unassigned" in page.text


async def test_the_language_follows_the_browser_then_the_persons_choice(console: Console):
    client = console.client()
    signin = await client.get("/console/signin", headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"})
    assert '<html lang="zh-CN">' in signin.text and "访问令牌" in signin.text
    await console.sign_in(client, await console.token("rep"))
    english = await client.get("/console/leads", headers={"Accept-Language": "en-US"})
    assert "My leads" in english.text
    switched = await post_form(client, "/console/leads", "/console/lang", lang="zh", next="/console/leads")
    assert switched.status_code == 303 and switched.headers["location"] == "/console/leads"
    assert "我的线索" in (await client.get("/console/leads", headers={"Accept-Language": "en-US"})).text
