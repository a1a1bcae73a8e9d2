"""Pure parts of acting from chat: the link tokens, Slack's v0 signature, which buttons a message
carries for whom, and how each platform shows them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leadrelay.services.notifier.handler import NotifierHandler
from leadrelay.services.notifier.messages import (
    Actions,
    Handover,
    LeadCard,
    Reader,
    lead_message,
    message_from_json,
    message_to_json,
)
from leadrelay.services.notifier.platforms import ChatAction, ChatDestination, ChatMessage, build_request
from leadrelay.services.router import slack_interactions as slack
from leadrelay.shared import action_links
from leadrelay.shared.action_links import ActionLink, LinkRefused, LinkSettings
from leadrelay.shared.policy import load_policy
from tests.platforms.fake_chat import slack_signature

NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
SECRET = "a-link-secret-of-some-length"
LINK = ActionLink(person="rep-a", lead_id="3f1c8e2a-5b7d-4c1e-9a2f-0d6b8e4c7a91", action="accepted",
                  expires_at=NOW + timedelta(hours=24), nonce="n0nce")
LEAD = LeadCard(lead_id=LINK.lead_id, source="web", score=75, grade="hot", contact={"name": "Li Wei"})


# -- link tokens ----------------------------------------------------------------------------------


def test_a_token_reads_back_as_the_link_it_was_signed_for():
    token = action_links.sign(SECRET, LINK)
    assert action_links.read(SECRET, token, NOW) == LINK
    assert token.isascii() and "/" not in token and "+" not in token and "=" not in token  # a URL path segment


def test_a_token_is_refused_once_expired_with_the_link_it_was():
    token = action_links.sign(SECRET, LINK)
    assert action_links.read(SECRET, token, LINK.expires_at - timedelta(seconds=1)) == LINK
    with pytest.raises(LinkRefused) as refused:
        action_links.read(SECRET, token, LINK.expires_at)
    assert refused.value.reason == "expired" and refused.value.link == LINK


def test_another_secret_or_any_change_is_refused_before_the_expiry_is_looked_at():
    token = action_links.sign(SECRET, LINK)
    late = LINK.expires_at + timedelta(days=1)
    with pytest.raises(LinkRefused) as refused:
        action_links.read("another-secret-entirely", token, late)
    assert refused.value.reason == "tampered" and refused.value.link is None
    for i in range(len(token)):
        changed = token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1:]
        with pytest.raises(LinkRefused) as refused:
            action_links.read(SECRET, changed, NOW)
        assert refused.value.reason in ("tampered", "malformed"), i


@given(st.text(max_size=700))
def test_no_string_but_a_signed_one_reads_as_a_link(text: str):
    with pytest.raises(LinkRefused):
        action_links.read(SECRET, text, NOW)


def test_each_message_and_action_has_its_own_nonce():
    nonces = {action_links.nonce_for(seed, action) for seed in ("event-1:rep-a", "event-1:rep-b", "event-2:rep-a")
              for action in action_links.ACTIONS}
    assert len(nonces) == 3 * len(action_links.ACTIONS)
    assert action_links.nonce_for("event-1:rep-a", "accepted") == action_links.nonce_for("event-1:rep-a", "accepted")


def test_signing_refuses_what_no_link_can_be():
    with pytest.raises(ValueError):
        action_links.sign(SECRET, ActionLink("rep-a", "l1", "delete", NOW, "n"))  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        action_links.sign(SECRET, ActionLink("rep-a", "l1", "accepted", NOW.replace(tzinfo=None), "n"))


# -- Slack's signature ----------------------------------------------------------------------------

BODY = b"payload=%7B%22type%22%3A%22block_actions%22%7D"


def test_slacks_signature_is_checked_as_slack_documents_it():
    ts = str(int(NOW.timestamp()))
    assert slack.signature("s3cret", ts, BODY) == slack_signature("s3cret", ts, BODY)  # the fake's own algorithm
    assert slack.verify("s3cret", ts, slack_signature("s3cret", ts, BODY), BODY, NOW) == NOW
    for timestamp, given_sig, reason in ((ts, "v0=" + "0" * 64, "forged"), (None, "v0=x", "unsigned"),
                                         (ts, None, "unsigned"), ("12ab", "v0=x", "unsigned"),
                                         ("١٢٣", "v0=x", "unsigned")):
        with pytest.raises(slack.SlackRefused) as refused:
            slack.verify("s3cret", timestamp, given_sig, BODY, NOW)
        assert refused.value.reason == reason
    old = str(int(NOW.timestamp()) - 301)
    with pytest.raises(slack.SlackRefused) as refused:
        slack.verify("s3cret", old, slack_signature("s3cret", old, BODY), BODY, NOW)
    assert refused.value.reason == "stale"


def test_only_our_callback_buttons_are_clicks_to_act_on():
    def body(actions: list) -> bytes:
        from urllib.parse import urlencode

        payload = {"type": "block_actions", "user": {"id": "U1"}, "response_url": "https://hooks/x", "actions": actions}
        return urlencode({"payload": json.dumps(payload)}).encode()

    [found] = slack.clicks(body([{"action_id": "accepted", "value": "accepted:lead-1"}]))
    assert (found.user_id, found.action, found.lead_id, found.response_url) == ("U1", "accepted", "lead-1",
                                                                                  "https://hooks/x")
    for ignored in ({"action_id": "open_lead", "value": "lead-1"}, {"action_id": "accepted_link"},
                    {"action_id": "accepted", "value": "contacted:lead-1"}, {"action_id": "accepted", "value": "accepted:"},
                    {"action_id": "converted", "value": "converted:lead-1"}):
        assert slack.clicks(body([ignored])) == []


def test_the_update_keeps_the_message_and_puts_one_status_line_above_its_buttons():
    message = {"text": "New lead", "blocks": [{"type": "header", "block_id": "h"},
                                              {"type": "actions", "block_id": "leadrelay_actions", "elements": []}]}
    first = slack.updated_message(message, "Accepted by <!channel> at 10:02")
    assert [b.get("block_id") for b in first["blocks"]] == ["h", "leadrelay_status", "leadrelay_actions"]
    assert first["blocks"][1]["elements"][0]["text"] == "Accepted by &lt;!channel&gt; at 10:02"
    second = slack.updated_message(first, "Marked contacted by Li Wei at 10:05")
    assert [b.get("block_id") for b in second["blocks"]] == ["h", "leadrelay_status", "leadrelay_actions"]
    assert slack.updated_message(None, "Accepted") == {"replace_original": False, "text": "Accepted"}


# -- which buttons, for whom ----------------------------------------------------------------------


def actions(public_url: str | None = "https://lr.example", callbacks: bool = False) -> Actions:
    return Actions(secret=SECRET, public_url=public_url, expires_at=NOW + timedelta(hours=24), seed="e1:rep-a",
                   callbacks=callbacks)


@pytest.mark.parametrize(("kind", "role", "expected"), [
    ("assigned", "owner", ["accepted", "contacted", "not_mine"]),
    ("reassigned", "owner", ["accepted", "contacted", "not_mine"]),
    ("reminder", "owner", ["accepted", "contacted", "not_mine"]),
    ("escalation", "owner", ["accepted", "contacted", "not_mine"]),
    ("escalation", "watcher", ["reassign"]),
    ("reassigned", "previous_owner", []), ("assigned", "watcher", []), ("fallback", "watcher", []),
    ("recycled", "owner", []),
])
def test_the_owner_works_the_lead_and_the_escalated_manager_may_reassign_it(kind: str, role: str, expected: list):
    message = lead_message(kind, LEAD, Reader("rep-a"), "https://lr.example", Handover(role=role), actions=actions())
    assert [a.name for a in message.actions] == expected
    for action in message.actions:
        token = action.url.removeprefix("https://lr.example/v1/act/")
        link = action_links.read(SECRET, token, NOW)
        assert (link.person, link.lead_id, link.action) == ("rep-a", LEAD.lead_id, action.name)


def test_slack_callbacks_carry_the_action_and_the_lead_and_the_rest_stay_links():
    message = lead_message("assigned", LEAD, Reader("rep-a"), "https://lr.example", actions=actions(callbacks=True))
    assert [(a.name, a.kind, a.value) for a in message.actions] == [
        ("accepted", "callback", f"accepted:{LEAD.lead_id}"), ("contacted", "callback", f"contacted:{LEAD.lead_id}"),
        ("not_mine", "url", None)]
    assert message.text == ""


def test_without_a_public_url_the_message_says_how_to_act():
    none = lead_message("assigned", LEAD, Reader("rep-a", "zh"), "http://127.0.0.1:8080", actions=actions(None))
    assert none.actions == () and "一键按钮需要先配置 Leadrelay 的公网地址" in none.text
    some = lead_message("assigned", LEAD, Reader("rep-a"), "u", actions=actions(None, callbacks=True))
    assert [a.kind for a in some.actions] == ["callback", "callback"]
    assert some.text == "For Not mine and Reassign, use Leadrelay: their pages need its public URL (LEADRELAY_PUBLIC_URL)."
    assert lead_message("assigned", LEAD, Reader("rep-a"), "u").text == ""  # no actions asked for: none, no hint


def test_a_message_with_buttons_survives_the_delivery_row():
    message = lead_message("assigned", LEAD, Reader("rep-a"), "https://lr.example", actions=actions(callbacks=True))
    assert message_from_json(json.loads(json.dumps(message_to_json(message)))) == message


async def test_the_notifier_offers_slack_callbacks_only_to_a_reader_slack_can_name():
    policy = load_policy("""
version: 1
timezone: Asia/Shanghai
scoring: {rules: [], grades: {hot: 60, warm: 30}}
teams: [{name: t, manager: mgr}]
managers: [{id: mgr, chat: {platform: slack, webhook: "https://hooks/m"}}]
reps:
  - {id: named, team: t, chat: {platform: slack, webhook: "https://hooks/a", user_id: U1}}
  - {id: unnamed, team: t, chat: {platform: slack, webhook: "https://hooks/b"}}
  - {id: teams, team: t, chat: {platform: teams, webhook: "https://t/x", user_id: U2}}
rules: [{name: all, when: {}, strategy: round_robin}]
""")
    from leadrelay.shared.events import Envelope, SlaEvent

    links = LinkSettings(public_url="https://lr.example", secret=SECRET, slack_callbacks=True)
    handler = NotifierHandler("https://lr.example", lambda: None, links)
    event = SlaEvent(lead_id="l1", clock="first_touch", step="remind", owner="named", due_at=NOW, fired_at=NOW,
                     lead={"source": "web", "contact": {}})
    envelope = Envelope.wrap(event, source="t", subject="l1", key="k", correlation_id="c", time=NOW)
    decided = {rep: handler.actions_for(policy.chat_for(rep), envelope, rep) for rep in ("named", "unnamed", "teams")}
    assert {rep: a.callbacks for rep, a in decided.items()} == {"named": True, "unnamed": False, "teams": False}
    assert decided["named"].expires_at == NOW + timedelta(hours=24)  # from the event's time, not the clock
    assert NotifierHandler("u", lambda: None).actions_for(policy.chat_for("named"), envelope, "named") is None
    without_app = NotifierHandler("u", lambda: None, LinkSettings(public_url=None, secret=SECRET))
    assert without_app.actions_for(policy.chat_for("named"), envelope, "named").callbacks is False


# -- how each platform shows them -----------------------------------------------------------------

BUTTONS = (ChatAction("accepted", "Accept", "callback", value="accepted:l1"),
           ChatAction("not_mine", "Not mine", "url", url="https://lr.example/v1/act/t2"))
MESSAGE = ChatMessage("assigned", "l1", "New lead", (("Score", "70"),), "https://lr.example/v1/leads/l1",
                      actions=BUTTONS)


def test_callbacks_are_slack_buttons_and_the_other_platforms_show_only_the_links():
    def body(platform: str) -> dict:
        return json.loads(build_request(MESSAGE, ChatDestination(platform, "https://x/?k=1"), NOW).body)

    [actions_block] = [b for b in body("slack")["blocks"] if b["type"] == "actions"]
    assert [(e["action_id"], e.get("value"), e.get("url")) for e in actions_block["elements"]] == [
        ("accepted", "accepted:l1", None), ("not_mine_link", None, "https://lr.example/v1/act/t2"),
        ("open_lead", "l1", "https://lr.example/v1/leads/l1")]
    teams = body("teams")["attachments"][0]["content"]["actions"]
    assert [(a["type"], a["title"]) for a in teams] == [("Action.OpenUrl", "Not mine"),
                                                        ("Action.OpenUrl", "Open in Leadrelay")]
    feishu = body("feishu")["card"]["elements"][-1]["actions"]
    assert [b["text"]["content"] for b in feishu] == ["Not mine", "Open in Leadrelay"]
    dingtalk = body("dingtalk")["actionCard"]["btns"]
    assert [b["title"] for b in dingtalk] == ["Not mine", "Open in Leadrelay"]
    wecom = body("wecom")["markdown"]["content"]
    assert wecom.endswith("[Not mine](https://lr.example/v1/act/t2)\n[Open in Leadrelay](https://lr.example/v1/leads/l1)")
    assert "Accept" not in wecom and "accepted:l1" not in json.dumps(body("teams"))


def test_buttons_that_cannot_fit_are_left_out_and_the_link_to_the_lead_stays():
    long = tuple(ChatAction(n, n, "url", url="https://lr.example/v1/act/" + "t" * 990)
                 for n in ("accepted", "contacted", "not_mine"))
    big = ChatMessage("assigned", "l1", "t" * 5000, tuple((f"k{i}", "v" * 5000) for i in range(20)),
                      "https://lr.example/v1/leads/l1", actions=long)
    content = json.loads(build_request(big, ChatDestination("wecom", "https://q/send?key=k"), NOW).body)
    assert len(content["markdown"]["content"].encode()) <= 4096
    assert "/v1/act/" not in content["markdown"]["content"]
    assert content["markdown"]["content"].endswith("(https://lr.example/v1/leads/l1)")


def test_an_action_is_a_url_or_a_callback_with_a_short_label():
    with pytest.raises(ValueError):
        ChatAction("accepted", "Accept", "url")
    with pytest.raises(ValueError):
        ChatAction("accepted", "Accept", "callback", url="https://x")
    with pytest.raises(ValueError):
        ChatAction("accepted", "Accept [now]", "callback", value="v")
    with pytest.raises(ValueError):
        ChatMessage("assigned", "l1", "t", (), None, actions=BUTTONS * 2)


# -- where the secret comes from --------------------------------------------------------------------


def test_distributed_mode_refuses_to_start_without_a_link_secret(monkeypatch: pytest.MonkeyPatch):
    from pydantic import ValidationError

    from leadrelay.shared.settings import Settings

    monkeypatch.delenv("LEADRELAY_LINK_SECRET", raising=False)
    with pytest.raises(ValidationError, match="LEADRELAY_LINK_SECRET must be set"):
        Settings(mode="distributed", identity_salt="a-salt")
    with pytest.raises(ValidationError):
        Settings(mode="distributed", identity_salt="a-salt", link_secret="short")
    assert Settings(mode="distributed", identity_salt="a-salt", link_secret="x" * 16).link_secret == "x" * 16
