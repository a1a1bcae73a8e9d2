"""Reps act where they already are: Slack buttons call ``POST /v1/chat/slack/actions`` (v0-signed,
answered at once, acted on after, the message updated through its response_url); every other
platform's buttons are signed one-click links. A rep accepts and marks a lead contacted from each
platform's message, and the SLA ladder stops; forged, stale and replayed Slack requests, and
clicks by the wrong person, change nothing."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from leadrelay.shared.shell.bootstrap import build_app
from tests.conftest import SLA_EPOCHS, FakeClock, Pipeline
from tests.platforms.chat_links import (
    SIGNING_SECRET,
    SLACK_USERS,
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
from tests.platforms.fake_chat import FakeChat, slack_interaction_body, slack_signature

SLACK_ACTIONS = "/v1/chat/slack/actions"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(SLA_EPOCHS["future"])  # a Wednesday, 10:00 in Shanghai


@pytest.fixture
async def slack_app(tmp_path: Path, chat: FakeChat, clock: FakeClock):
    """rep-x takes every lead, on Slack, where Leadrelay's app has interactivity set up."""
    async with chat_pipeline("embedded", tmp_path, chat, one_rep_policy(chat), clock,
                             slack_signing_secret=SIGNING_SECRET) as pipeline:
        yield pipeline


def now_s(clock: FakeClock) -> int:
    return int(clock().timestamp())


async def click(pipeline: Pipeline, chat: FakeChat, clock: FakeClock, lead_id: str, action_id: str,
                user: str = "rep-x", **options) -> tuple[object, bytes, dict[str, str]]:
    message = await message_for(chat, "slack", lead_id, "rep-x")
    body, headers = chat.slack_click(message, action_id, SLACK_USERS.get(user, user), signing_secret=SIGNING_SECRET,
                                     timestamp=options.pop("timestamp", now_s(clock)), **options)
    response = await pipeline.client.post(SLACK_ACTIONS, content=body, headers=headers)
    return response, body, headers


async def nothing_changed(pipeline: Pipeline, lead_id: str) -> None:
    lead = await lead_as_admin(pipeline, lead_id)
    assert lead["status"] == "assigned" and pending(lead, "handoff") and pending(lead, "first_touch")
    assert await activities(pipeline, lead_id) == []


# -- Slack, natively ------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["embedded", "distributed"])
async def test_a_rep_accepts_then_marks_contacted_with_slack_buttons_and_the_ladder_stops(
        backend: str, tmp_path: Path, chat: FakeChat, clock: FakeClock):
    async with chat_pipeline(backend, tmp_path, chat, one_rep_policy(chat), clock,
                             slack_signing_secret=SIGNING_SECRET) as pipeline:
        lead_id = await post(pipeline)
        message = await message_for(chat, "slack", lead_id, "rep-x")
        [actions] = [b for b in message.payload["blocks"] if b["type"] == "actions"]
        shown = [(e["action_id"], e.get("value"), "url" in e) for e in actions["elements"]]
        assert shown == [("accepted", f"accepted:{lead_id}", False), ("contacted", f"contacted:{lead_id}", False),
                         ("not_mine_link", None, True), ("open_lead", lead_id, True)]

        accepted, _, _ = await click(pipeline, chat, clock, lead_id, "accepted")
        assert accepted.status_code == 200 and accepted.content == b""  # the ack: Slack shows nothing
        lead = await lead_as_admin(pipeline, lead_id)
        assert lead["status"] == "accepted" and not pending(lead, "handoff")
        [update] = chat.slack_responses()
        assert update.payload["replace_original"] is True
        [status] = [b for b in update.payload["blocks"] if b.get("block_id") == "leadrelay_status"]
        assert status["elements"][0]["text"] == "Accepted by Li Wei at 10:00"  # the rep's time zone
        blocks = [b["type"] for b in update.payload["blocks"]]
        assert blocks[0] == "header" and blocks[-2:] == ["context", "actions"]  # the lead and its buttons stay

        contacted, _, _ = await click(pipeline, chat, clock, lead_id, "contacted")
        assert contacted.status_code == 200
        lead = await lead_as_admin(pipeline, lead_id)
        assert lead["status"] == "contacted" and pending(lead, "first_touch") == []  # the SLA ladder stopped
        assert "Marked contacted by Li Wei at 10:00" in json.dumps(chat.slack_responses()[-1].payload)
        events = await activities(pipeline, lead_id)
        assert [(e["actor"], e["action"], e["via"]) for e in events] == [("rep-x", "accepted", "slack"),
                                                                          ("rep-x", "contacted", "slack")]
        history = [h for h in lead["history"] if h["kind"] in ("accepted", "contacted")]
        assert [h["via"] for h in history] == ["slack", "slack"]


async def test_a_forged_signature_is_refused_and_changes_nothing(slack_app: Pipeline, chat: FakeChat,
                                                                  clock: FakeClock):
    lead_id = await post(slack_app)
    message = await message_for(chat, "slack", lead_id, "rep-x")
    body, headers = chat.slack_click(message, "accepted", SLACK_USERS["rep-x"], signing_secret="not-our-secret",
                                     timestamp=now_s(clock))
    good_body, good_headers = chat.slack_click(message, "accepted", SLACK_USERS["rep-x"],
                                               signing_secret=SIGNING_SECRET, timestamp=now_s(clock))
    attempts = [
        (body, headers),  # signed with another secret
        (good_body.replace(b"accepted", b"contacted"), good_headers),  # the body changed after signing
        (good_body, {**good_headers, "X-Slack-Request-Timestamp": str(now_s(clock) + 1)}),  # the time changed
        (good_body, {k: v for k, v in good_headers.items() if k != "X-Slack-Signature"}),  # unsigned
        (good_body, {**good_headers, "X-Slack-Signature": "v0=" + "0" * 64}),
    ]
    for attempt_body, attempt_headers in attempts:
        response = await slack_app.client.post(SLACK_ACTIONS, content=attempt_body, headers=attempt_headers)
        assert response.status_code == 401, response.text
        assert response.headers["content-type"] == "application/problem+json"
    await nothing_changed(slack_app, lead_id)
    assert chat.slack_responses() == []


@pytest.mark.parametrize("skew_s", [-301, 301, -3600])
async def test_a_request_from_more_than_five_minutes_away_is_refused(slack_app: Pipeline, chat: FakeChat,
                                                                     clock: FakeClock, skew_s: int):
    lead_id = await post(slack_app)
    response, _, _ = await click(slack_app, chat, clock, lead_id, "accepted", timestamp=now_s(clock) + skew_s)
    assert response.status_code == 401 and response.json()["errors"][0]["reason"] == "stale"
    await nothing_changed(slack_app, lead_id)


async def test_a_replayed_request_is_refused_and_acts_once(slack_app: Pipeline, chat: FakeChat, clock: FakeClock):
    lead_id = await post(slack_app)
    first, body, headers = await click(slack_app, chat, clock, lead_id, "accepted")
    assert first.status_code == 200
    clock.advance(seconds=30)  # inside Slack's five minutes: only its signature gives it away
    again = await slack_app.client.post(SLACK_ACTIONS, content=body, headers=headers)
    assert again.status_code == 401 and again.json()["errors"] == [{"field": "X-Slack-Signature",
                                                                     "reason": "replayed"}]
    assert [e["action"] for e in await activities(slack_app, lead_id)] == ["accepted"]
    assert len(chat.slack_responses()) == 1


async def test_a_colleague_pressing_the_button_changes_nothing_and_is_told_why(slack_app: Pipeline, chat: FakeChat,
                                                                               clock: FakeClock):
    lead_id = await post(slack_app)
    response, _, _ = await click(slack_app, chat, clock, lead_id, "accepted", user="rep-y")
    assert response.status_code == 200
    await nothing_changed(slack_app, lead_id)
    [reply] = chat.slack_responses()
    assert reply.payload == {"response_type": "ephemeral", "replace_original": False,
                             "text": "This lead is not yours (any more): nothing was changed."}

    response, _, _ = await click(slack_app, chat, clock, lead_id, "accepted", user="U0STRANGER")
    assert response.status_code == 200
    await nothing_changed(slack_app, lead_id)
    assert "not linked to a Leadrelay rep" in chat.slack_responses()[-1].payload["text"]


async def test_a_click_on_a_link_button_is_acknowledged_and_changes_nothing(slack_app: Pipeline, chat: FakeChat,
                                                                          clock: FakeClock):
    lead_id = await post(slack_app)
    for action_id in ("open_lead", "not_mine_link"):  # Slack reports URL buttons' clicks too
        response, _, _ = await click(slack_app, chat, clock, lead_id, action_id)
        assert response.status_code == 200
    await nothing_changed(slack_app, lead_id)
    assert chat.slack_responses() == []


async def test_a_signed_body_that_is_no_interaction_is_a_bad_request(slack_app: Pipeline, chat: FakeChat,
                                                                     clock: FakeClock):
    for body in (b"payload=not-json", b"text=hello", b"\xff\xfe"):
        headers = {"Content-Type": "application/x-www-form-urlencoded",
                   "X-Slack-Request-Timestamp": str(now_s(clock)),
                   "X-Slack-Signature": slack_signature(SIGNING_SECRET, str(now_s(clock)), body)}
        response = await slack_app.client.post(SLACK_ACTIONS, content=body, headers=headers)
        assert response.status_code == 422, body
    other_type, headers = slack_interaction_body({"type": "view_submission", "user": {"id": "U0REPX"}},
                                                 SIGNING_SECRET, now_s(clock))
    assert (await slack_app.client.post(SLACK_ACTIONS, content=other_type, headers=headers)).status_code == 200


async def test_without_a_signing_secret_the_endpoint_is_not_there_and_messages_carry_links(
        tmp_path: Path, chat: FakeChat, clock: FakeClock):
    async with chat_pipeline("embedded", tmp_path, chat, one_rep_policy(chat), clock) as pipeline:
        lead_id = await post(pipeline)
        response, _, _ = await click(pipeline, chat, clock, lead_id, "accepted_link")
        assert response.status_code == 404
        message = await message_for(chat, "slack", lead_id, "rep-x")
        assert set(buttons("slack", message.payload)) == {"Accept", "Contacted", "Not mine", "Open in Leadrelay"}


async def test_slack_is_answered_before_the_action_is_taken(slack_app: Pipeline, chat: FakeChat, clock: FakeClock):
    """Slack gives an app 3 seconds: the answer goes out first, the action (and the update of the
    message) right after."""
    lead_id = await post(slack_app)
    message = await message_for(chat, "slack", lead_id, "rep-x")
    body, headers = chat.slack_click(message, "accepted", SLACK_USERS["rep-x"], signing_secret=SIGNING_SECRET,
                                     timestamp=now_s(clock))
    seen_at_answer: list[tuple[int, str]] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(event: dict) -> None:
        if event["type"] == "http.response.start":
            async with slack_app.runtime.store.read() as uow:
                lead = await uow.leads.get(lead_id)
            seen_at_answer.append((event["status"], lead.state))

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": SLACK_ACTIONS, "raw_path": SLACK_ACTIONS.encode(), "query_string": b"", "root_path": "",
             "server": ("leadrelay.test", 80), "client": ("127.0.0.1", 5000),
             "headers": [(k.lower().encode(), v.encode()) for k, v in
                         {**headers, "content-length": str(len(body)), "host": "leadrelay.test"}.items()]}
    await build_app(slack_app.runtime)(scope, receive, send)
    assert seen_at_answer == [(200, "assigned")]  # answered while nothing had changed yet
    assert (await lead_as_admin(slack_app, lead_id))["status"] == "accepted"  # then acted


# -- every other platform, by link ----------------------------------------------------------------

@pytest.mark.parametrize(("platform", "backend"), [
    ("slack", "embedded"), ("teams", "embedded"), ("feishu", "embedded"), ("dingtalk", "embedded"),
    ("wecom", "embedded"), ("feishu", "distributed"),
])
async def test_a_rep_accepts_then_marks_contacted_from_the_message_by_link_and_the_ladder_stops(
        platform: str, backend: str, tmp_path: Path, chat: FakeChat, clock: FakeClock):
    async with chat_pipeline(backend, tmp_path, chat, one_rep_policy(chat, platform), clock) as pipeline:
        lead_id = await post(pipeline)
        message = await message_for(chat, platform, lead_id, "rep-x")
        links = buttons(platform, message.payload)
        assert {"Accept", "Contacted", "Not mine"} <= set(links), links
        assert re.search(r"/console/leads/" + lead_id, json.dumps(message.payload))  # Open: the console page

        for label, status in (("Accept", "accepted"), ("Contacted", "contacted")):
            path = path_of(links[label])
            preview = await pipeline.client.get(path)  # the chat client's prefetch, then the rep
            assert preview.status_code == 200
            assert (await lead_as_admin(pipeline, lead_id))["status"] != status
            done = await pipeline.client.post(path)
            assert done.status_code == 200, done.text
            assert (await lead_as_admin(pipeline, lead_id))["status"] == status

        lead = await lead_as_admin(pipeline, lead_id)
        assert pending(lead, "first_touch") == [] and pending(lead, "handoff") == []
        events = await activities(pipeline, lead_id)
        assert [(e["action"], e["via"]) for e in events] == [("accepted", "link"), ("contacted", "link")]
