"""Signed one-click links (``GET``/``POST /v1/act/{token}``): opening one shows what its button
will do and changes nothing (chat apps prefetch links); its button acts once, as the rep the link
names; expired, reused, tampered and other people's links get a clear page and change nothing."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from leadrelay.shared import action_links
from leadrelay.shared.link_secret import link_secret
from tests.conftest import SLA_EPOCHS, FakeClock, Pipeline
from tests.platforms.chat_links import (
    activities,
    buttons,
    chat_pipeline,
    lead_as_admin,
    message_for,
    one_rep_policy,
    path_of,
    pending,
    post,
)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(SLA_EPOCHS["future"])  # a Wednesday, 10:00 in Shanghai


@pytest.fixture
async def desk(tmp_path: Path, chat, clock: FakeClock) -> AsyncIterator[Pipeline]:
    """rep-x takes every lead; their messages come on Slack, with signed links (no Slack app)."""
    async with chat_pipeline("embedded", tmp_path, chat, one_rep_policy(chat), clock) as pipeline:
        yield pipeline


async def links_to(chat, lead_id: str, token: str = "rep-x", count: int = 1) -> dict[str, str]:
    """The paths of a Slack message's link buttons, by label."""
    message = await message_for(chat, "slack", lead_id, token, count)
    return {label: path_of(url) for label, url in buttons("slack", message.payload).items()
            if "/v1/act/" in url}


def is_page(response, status: int, text: str) -> bool:
    return (response.status_code == status and response.headers["content-type"].startswith("text/html")
            and text in response.text and response.headers["cache-control"] == "no-store")


async def unchanged(desk: Pipeline, lead_id: str, status: str = "assigned") -> dict:
    lead = await lead_as_admin(desk, lead_id)
    assert lead["status"] == status
    assert not [h for h in lead["history"] if h["kind"] in ("accepted", "contacted", "not_mine", "reassigned")]
    assert await activities(desk, lead_id) == []
    return lead


async def test_opening_a_link_shows_what_it_does_and_changes_nothing(desk: Pipeline, chat):
    lead_id = await post(desk)
    links = await links_to(chat, lead_id)
    assert set(links) == {"Accept", "Contacted", "Not mine"}

    for _ in range(3):  # a link unfurler, the chat client's preview, then the rep
        page = await desk.client.get(links["Accept"])
        assert is_page(page, 200, "Accept this lead?") and "Li Wei · Big Factory" in page.text
        assert '<form method="post">' in page.text and "Nothing changes until you press the button." in page.text
        assert page.headers["referrer-policy"] == "no-referrer" and "frame-ancestors 'none'" in page.headers[
            "content-security-policy"]
    lead = await unchanged(desk, lead_id)
    assert pending(lead, "handoff") and pending(lead, "first_touch")
    assert (await desk.client.post(links["Accept"])).status_code == 200  # the link still works: it was never spent


async def test_the_button_acts_once_as_the_rep_and_says_so(desk: Pipeline, chat):
    lead_id = await post(desk)
    links = await links_to(chat, lead_id)

    done = await desk.client.post(links["Accept"])
    assert is_page(done, 200, "Accepted") and "Li Wei · Big Factory is yours." in done.text
    assert f'<a href="/console/leads/{lead_id}">Open the lead in the console</a>' in done.text  # on to its page
    lead = await lead_as_admin(desk, lead_id)
    assert lead["status"] == "accepted" and not pending(lead, "handoff") and pending(lead, "first_touch")
    [entry] = [h for h in lead["history"] if h["kind"] == "accepted"]
    assert (entry["by"], entry["via"]) == ("rep-x", "link")
    [event] = await activities(desk, lead_id)
    assert (event["actor"], event["action"], event["via"]) == ("rep-x", "accepted", "link")

    for again in (desk.client.post(links["Accept"]), desk.client.get(links["Accept"])):
        assert is_page(await again, 409, "This link was used already")
    assert len(await activities(desk, lead_id)) == 1

    contacted = await desk.client.post(links["Contacted"])
    assert is_page(contacted, 200, "Marked contacted")
    lead = await lead_as_admin(desk, lead_id)
    assert lead["status"] == "contacted" and pending(lead, "first_touch") == []  # the SLA ladder stopped
    assert [e["action"] for e in await activities(desk, lead_id)] == ["accepted", "contacted"]


async def test_a_link_for_an_action_the_lead_is_past_says_so_and_stays_usable(desk: Pipeline, chat):
    lead_id = await post(desk)
    links = await links_to(chat, lead_id)
    assert (await desk.client.post(links["Contacted"])).status_code == 200
    page = await desk.client.get(links["Accept"])
    assert is_page(page, 409, "Nothing to do") and "The lead is &#x27;contacted&#x27; now." in page.text
    assert is_page(await desk.client.post(links["Accept"]), 409, "Nothing to do")
    assert [e["action"] for e in await activities(desk, lead_id)] == ["contacted"]


def tampered(path: str) -> list[str]:
    """The link changed the ways a hand or a truncating chat client would change it."""
    token = path.removeprefix("/v1/act/")
    payload, mac = token.split(".")
    fields = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    fields[3] = "contacted"  # another action, same mac
    other = base64.urlsafe_b64encode(json.dumps(fields, separators=(",", ":")).encode()).rstrip(b"=").decode()
    flipped = mac[:-1] + ("A" if mac[-1] != "A" else "B")
    return [f"/v1/act/{t}" for t in (f"{other}.{mac}", f"{payload}.{flipped}", token[:-10], payload, "x.y",
                                     token + "." + mac, "%00" + token)]


async def test_a_tampered_link_gets_a_clear_page_and_changes_nothing(desk: Pipeline, chat):
    lead_id = await post(desk)
    links = await links_to(chat, lead_id)
    for path in tampered(links["Accept"]):
        for response in (await desk.client.get(path), await desk.client.post(path)):
            assert is_page(response, 403, "This link is not valid"), (path, response.status_code)
            assert "此链接无效" in response.text  # whose link it was cannot be told: both languages
    await unchanged(desk, lead_id)


async def test_a_link_signed_with_another_secret_is_refused(desk: Pipeline, chat, clock: FakeClock):
    lead_id = await post(desk)
    forged = action_links.sign("not-the-deployments-secret", action_links.ActionLink(
        person="rep-x", lead_id=lead_id, action="accepted", expires_at=clock() + timedelta(hours=1), nonce="n1"))
    assert is_page(await desk.client.post(f"/v1/act/{forged}"), 403, "This link is not valid")
    await unchanged(desk, lead_id)


async def test_an_expired_link_gets_a_clear_page_and_changes_nothing(desk: Pipeline, chat, clock: FakeClock):
    lead_id = await post(desk)
    links = await links_to(chat, lead_id)
    clock.advance(hours=24)  # the links' life: the event's time plus a day
    for response in (await desk.client.get(links["Accept"]), await desk.client.post(links["Accept"])):
        assert is_page(response, 410, "This link has expired")
        assert "此链接已过期" not in response.text  # the rep's own language (English here)
    lead = await lead_as_admin(desk, lead_id)
    assert not [h for h in lead["history"] if h["kind"] == "accepted"] and await activities(desk, lead_id) == []


async def test_another_reps_link_gets_a_clear_page_and_changes_nothing(desk: Pipeline, chat, clock: FakeClock):
    lead_id = await post(desk)
    links = await links_to(chat, lead_id)
    # rep-y holds a genuine link (signed with the deployment's secret) to rep-x's lead.
    secret = link_secret(desk.runtime.settings)
    theirs = action_links.sign(secret, action_links.ActionLink(
        person="rep-y", lead_id=lead_id, action="accepted", expires_at=clock() + timedelta(hours=1), nonce="n1"))
    for response in (await desk.client.get(f"/v1/act/{theirs}"), await desk.client.post(f"/v1/act/{theirs}")):
        assert is_page(response, 404, "This lead is not yours")
    await unchanged(desk, lead_id)

    # rep-x's own link, once the manager gave the lead to rep-y: no longer theirs either.
    manager = await desk.token("manager", "mgr-m")
    moved = await desk.client.post(f"/v1/leads/{lead_id}/activity", json={"action": "reassign", "to_rep": "rep-y"},
                                   headers={"Authorization": f"Bearer {manager}"})
    assert moved.status_code == 200 and moved.json()["owner"] == "rep-y"
    for response in (await desk.client.get(links["Accept"]), await desk.client.post(links["Accept"])):
        assert is_page(response, 404, "This lead is not yours")
    lead = await lead_as_admin(desk, lead_id)
    assert (lead["owner"], lead["status"]) == ("rep-y", "assigned")
    assert [e["action"] for e in await activities(desk, lead_id)] == ["reassign"]


async def test_not_mine_asks_why_and_hands_the_lead_back_to_the_pool(desk: Pipeline, chat):
    lead_id = await post(desk)
    link = (await links_to(chat, lead_id))["Not mine"]
    page = await desk.client.get(link)
    assert is_page(page, 200, "Not your lead?") and '<select id="reason" name="reason">' in page.text
    assert '<option value="wrong_territory">Not my territory</option>' in page.text

    # A reason it does not know, or "other" without a note: asked again, and the link still works.
    for form in ({}, {"reason": "bored"}, {"reason": "other", "note": "   "}):
        assert is_page(await desk.client.post(link, data=form), 422, "Choose again")
    await unchanged(desk, lead_id)

    done = await desk.client.post(link, data={"reason": "wrong_territory", "note": "They are in Beijing"})
    assert is_page(done, 200, "Back in the pool")
    lead = await lead_as_admin(desk, lead_id)
    assert (lead["status"], lead["owner"], lead["team"]) == ("pool", None, "desk")
    assert pending(lead, "first_touch") == [] and pending(lead, "handoff") == []
    [entry] = [h for h in lead["history"] if h["kind"] == "not_mine"]
    assert entry["reason"] == "wrong_territory: They are in Beijing" and entry["via"] == "link"
    [event] = await activities(desk, lead_id)
    assert (event["action"], event["reason"], event["via"]) == ("not_mine", "wrong_territory: They are in Beijing",
                                                               "link")
    assert is_page(await desk.client.post(link, data={"reason": "not_a_lead"}), 409, "This link was used already")
    # The desk's other rep may claim it; rep-x waits out the pool's cooldown.
    claim = await desk.client.post(f"/v1/pool/{lead_id}/claim",
                                   headers={"Authorization": f"Bearer {await desk.token('rep', 'rep-y')}"})
    assert claim.status_code == 200 and claim.json()["owner"] == "rep-y"


async def test_a_manager_reassigns_from_the_escalation(desk: Pipeline, chat, clock: FakeClock):
    lead_id = await post(desk)
    clock.advance(minutes=16)  # a hot lead's first touch is 15 minutes: escalated to mgr-m
    links = await links_to(chat, lead_id, token="mgr-m")  # the scheduler runs in the pipeline
    assert set(links) == {"Reassign to…"}
    page = await desk.client.get(links["Reassign to…"])
    assert is_page(page, 200, "Reassign this lead") and '<option value="rep-y">Chen Jing (rep-y)</option>' in page.text
    assert 'value="rep-x"' not in page.text  # the owner is not a choice

    assert is_page(await desk.client.post(links["Reassign to…"], data={"to_rep": "rep-nobody"}), 422, "Choose again")
    done = await desk.client.post(links["Reassign to…"], data={"to_rep": "rep-y"})
    assert is_page(done, 200, "Reassigned") and "now belongs to Chen Jing." in done.text
    lead = await lead_as_admin(desk, lead_id)
    assert lead["owner"] == "rep-y"
    [event] = await activities(desk, lead_id)
    assert (event["actor"], event["action"], event["to_rep"], event["via"]) == ("mgr-m", "reassign", "rep-y", "link")


async def test_a_chinese_speaking_rep_reads_chinese_buttons_and_pages(tmp_path: Path, chat, clock: FakeClock):
    async with chat_pipeline("embedded", tmp_path, chat, one_rep_policy(chat, languages="[zh, en]"),
                             clock) as desk:
        lead_id = await post(desk)
        links = await links_to(chat, lead_id)
        assert set(links) == {"接受", "已联系", "不是我的"}
        page = await desk.client.get(links["接受"])
        assert is_page(page, 200, "接受这条线索？") and '<html lang="zh-CN">' in page.text
        assert is_page(await desk.client.post(links["接受"]), 200, "已接受")
        assert is_page(await desk.client.post(links["接受"]), 409, "此链接已使用过")


async def test_without_a_public_url_the_message_says_how_to_act(tmp_path: Path, chat, clock: FakeClock):
    async with chat_pipeline("embedded", tmp_path, chat, one_rep_policy(chat), clock, public_url=None) as desk:
        lead_id = await post(desk)
        message = await message_for(chat, "slack", lead_id, "rep-x")
        text = json.dumps(message.payload)
        assert "/v1/act/" not in text
        assert "To act on this lead, use Leadrelay: one-click buttons need its public URL" in text
