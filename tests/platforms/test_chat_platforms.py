"""The chat adapters against the faithful fake platforms, over real HTTP."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, quote_plus, urlsplit

import httpx
import pytest

from leadrelay.services.notifier.platforms import (
    MAX_FACTS,
    PLATFORMS,
    TRANSIENT_RETRY_SECONDS,
    ChatDestination,
    ChatMessage,
    DeliveryResult,
    OutgoingRequest,
    build_request,
    dingtalk,
    feishu,
    interpret_response,
    interpret_transport_error,
    slack,
    teams,
    wecom,
)
from tests.platforms.fake_chat import FakeChat, ManualClock

TOKENS = {"slack": "T000/B000/XXX", "teams": "conn-1", "feishu": "hook-1", "dingtalk": "ding-1", "wecom": "key-1"}
SIGNED = {"feishu": "feishu-secret", "dingtalk": "SECdingtalk-secret"}

MESSAGE = ChatMessage(
    kind="assigned",
    lead_id="lead_123",
    title="New hot lead: Jane Doe (ACME)",
    facts=(("Score", "72 · hot"), ("Source", "meta"), ("Email", "jane@acme.com")),
    url="https://leadrelay.example/leads/lead_123",
    text="Round robin in EMEA; Sam is next and on shift",
)


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    # One client for the module: building its TLS context costs ~0.1 s.
    with httpx.Client(timeout=5) as client:  # redirects not followed: DingTalk's 302 must stay visible
        yield client


def now() -> datetime:
    return datetime.now(UTC)


def destination(chat: FakeChat, platform: str, *, secret: str | None = None) -> ChatDestination:
    secret = secret if secret is not None else SIGNED.get(platform)
    url = chat.register(platform, TOKENS[platform], secret=SIGNED.get(platform))
    return ChatDestination(platform, url, secret)


def deliver(http: httpx.Client, platform: str, request: OutgoingRequest) -> DeliveryResult:
    response = http.post(request.url, headers=request.headers, content=request.body)
    return interpret_response(platform, response.status_code, response.headers, response.content)


def payload(request: OutgoingRequest) -> dict:
    return json.loads(request.body)


# -- delivery end to end ------------------------------------------------------------------


@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_message_is_delivered_and_recorded(fake_chat: FakeChat, http: httpx.Client, platform: str) -> None:
    request = build_request(MESSAGE, destination(fake_chat, platform), now())

    result = deliver(http, platform, request)

    assert result.ok and not result.permanent and result.retry_after is None, result
    [received] = fake_chat.messages(platform)
    assert received.token == TOKENS[platform]
    assert received.payload == payload(request)


def test_teams_workflow_urls_answer_202_and_count_as_delivered(fake_chat: FakeChat, http: httpx.Client) -> None:
    url = fake_chat.register("teams", "flow-1", flavor="workflow")
    request = build_request(MESSAGE, ChatDestination("teams", url), now())

    result = deliver(http, "teams", request)

    assert result == DeliveryResult(ok=True, retry_after=None, permanent=False, detail="teams 202")
    assert len(fake_chat.messages("teams", "flow-1")) == 1


def test_a_teams_workflow_url_with_a_wrong_sig_is_permanent(fake_chat: FakeChat, http: httpx.Client) -> None:
    url = fake_chat.register("teams", "flow-1", flavor="workflow")
    request = build_request(MESSAGE, ChatDestination("teams", url.replace("sig=sig-", "sig=bad-")), now())

    assert deliver(http, "teams", request).permanent
    assert [r.reason for r in fake_chat.rejections("teams")] == ["auth"]


# -- signatures -------------------------------------------------------------------------------


@pytest.mark.parametrize(("platform", "detail"), [("feishu", "feishu code 19021 sign match fail"),
                                                  ("dingtalk", "dingtalk errcode 310000 sign not match")])
def test_a_wrong_secret_is_rejected_and_permanent(fake_chat: FakeChat, http: httpx.Client, platform: str,
                                                  detail: str) -> None:
    request = build_request(MESSAGE, destination(fake_chat, platform, secret="SECwrong"), now())

    result = deliver(http, platform, request)

    assert result.permanent and not result.ok and result.retry_after is None
    assert result.detail == detail
    assert fake_chat.messages() == []
    assert [r.reason for r in fake_chat.rejections(platform)] == ["auth"]


@pytest.mark.parametrize(("platform", "detail"), [("feishu", "feishu code 19021 sign match fail"),
                                                  ("dingtalk", "dingtalk errcode 310000 invalid timestamp")])
def test_a_signature_older_than_an_hour_is_rejected(fake_chat: FakeChat, http: httpx.Client, platform: str,
                                                    detail: str) -> None:
    dest = destination(fake_chat, platform)

    stale = deliver(http, platform, build_request(MESSAGE, dest, now() - timedelta(seconds=3700)))
    fresh = deliver(http, platform, build_request(MESSAGE, dest, now() - timedelta(seconds=3000)))

    assert stale.permanent and stale.detail == detail
    assert fresh.ok


def test_a_missing_signature_is_rejected_when_the_bot_requires_one(fake_chat: FakeChat, http: httpx.Client) -> None:
    for platform in SIGNED:
        request = build_request(MESSAGE, destination(fake_chat, platform, secret=""), now())
        assert deliver(http, platform, request).permanent


def test_feishu_sign_keys_the_hmac_with_timestamp_and_secret_over_an_empty_message() -> None:
    expected = base64.b64encode(hmac.new(b"1599360473\nsecret", b"", hashlib.sha256).digest()).decode()
    wrong = base64.b64encode(hmac.new(b"secret", b"1599360473\nsecret", hashlib.sha256).digest()).decode()

    assert feishu.sign("secret", 1599360473) == expected
    assert expected != wrong  # the openlark-webhook variant, which Feishu rejects


def test_feishu_puts_seconds_timestamp_and_sign_in_the_body() -> None:
    at = datetime(2020, 9, 6, 2, 47, 53, 999_000, tzinfo=UTC)
    body = payload(build_request(MESSAGE, ChatDestination("feishu", "https://f/hook/x", "secret"), at))

    assert body["timestamp"] == str(int(at.timestamp())) == "1599360473"
    assert body["sign"] == base64.b64encode(hmac.new(b"1599360473\nsecret", b"", hashlib.sha256).digest()).decode()


def test_dingtalk_sign_keys_the_hmac_with_the_secret_over_ms_timestamp_and_secret() -> None:
    expected = base64.b64encode(hmac.new(b"SECabc", b"1599360473000\nSECabc", hashlib.sha256).digest()).decode()

    assert dingtalk.sign("SECabc", 1599360473000) == expected


def test_dingtalk_appends_ms_timestamp_and_url_encoded_sign_to_the_query() -> None:
    at = datetime(2020, 9, 6, 2, 47, 53, 123_000, tzinfo=UTC)
    request = build_request(MESSAGE, ChatDestination("dingtalk", "https://d/robot/send?access_token=t", "SECabc"), at)

    query = parse_qs(urlsplit(request.url).query)
    expected = base64.b64encode(hmac.new(b"SECabc", b"1599360473123\nSECabc", hashlib.sha256).digest()).decode()
    assert query == {"access_token": ["t"], "timestamp": ["1599360473123"], "sign": [expected]}
    assert request.url.endswith(f"&sign={quote_plus(expected)}")


def test_a_dingtalk_sign_with_plus_signs_survives_the_query_string(fake_chat: FakeChat, http: httpx.Client) -> None:
    # An un-encoded `+` arrives as a space: find a timestamp whose signature has one.
    dest, start = destination(fake_chat, "dingtalk"), now()
    candidates = (start - timedelta(milliseconds=i) for i in range(1000))
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    at = next(t for t in candidates if "+" in dingtalk.sign(SIGNED["dingtalk"], (t - epoch) // timedelta(milliseconds=1)))

    assert deliver(http, "dingtalk", build_request(MESSAGE, dest, at)).ok


# -- rate limits ----------------------------------------------------------------------------


@pytest.mark.parametrize("platform", PLATFORMS)
def test_the_rate_limit_answer_carries_a_retry_after(fake_chat: FakeChat, http: httpx.Client, platform: str) -> None:
    fake_chat.set_limits(platform, (1, 60.0))
    request = build_request(MESSAGE, destination(fake_chat, platform), now())

    first, second = deliver(http, platform, request), deliver(http, platform, request)

    assert first.ok
    assert not second.ok and not second.permanent and second.retry_after and second.retry_after > 0, second
    assert len(fake_chat.messages(platform)) == 1
    assert [r.reason for r in fake_chat.rejections(platform)] == ["rate_limited"]


def test_slack_429_retry_after_is_honoured_and_the_window_slides(fake_chat: FakeChat, http: httpx.Client) -> None:
    clock = fake_chat.clock = ManualClock()
    fake_chat.set_limits("slack", (2, 10.0))
    request = build_request(MESSAGE, destination(fake_chat, "slack"), now())

    results = [deliver(http, "slack", request) for _ in range(3)]
    clock.advance(9)
    still_limited = deliver(http, "slack", request)
    clock.advance(1.5)
    after_window = deliver(http, "slack", request)

    assert [r.ok for r in results] == [True, True, False]
    assert results[2] == DeliveryResult(ok=False, retry_after=10.0, permanent=False, detail="slack 429 rate_limited")
    assert still_limited.retry_after == 1.0
    assert after_window.ok


def test_slack_default_limit_allows_a_short_burst_then_throttles(fake_chat: FakeChat, http: httpx.Client) -> None:
    fake_chat.clock = ManualClock()
    request = build_request(MESSAGE, destination(fake_chat, "slack"), now())

    oks = [deliver(http, "slack", request).ok for _ in range(6)]

    assert oks == [True] * 5 + [False]


def test_dingtalk_blocks_a_robot_for_ten_minutes_after_it_sends_too_fast(fake_chat: FakeChat,
                                                                          http: httpx.Client) -> None:
    clock = fake_chat.clock = ManualClock()
    fake_chat.set_limits("dingtalk", (2, 60.0))
    dest = destination(fake_chat, "dingtalk")

    sent = [deliver(http, "dingtalk", build_request(MESSAGE, dest, now())) for _ in range(3)]
    clock.advance(61)
    blocked = deliver(http, "dingtalk", build_request(MESSAGE, dest, now()))
    clock.advance(540)
    unblocked = deliver(http, "dingtalk", build_request(MESSAGE, dest, now()))

    assert [r.ok for r in sent] == [True, True, False]
    assert sent[2].retry_after == dingtalk.RATE_LIMIT_WAIT == 600
    assert "send too fast" in sent[2].detail
    assert not blocked.ok and blocked.retry_after
    assert unblocked.ok


def test_teams_connector_throttle_arrives_as_200_body_text(fake_chat: FakeChat, http: httpx.Client) -> None:
    fake_chat.set_limits("teams", (4, 1.0))
    request = build_request(MESSAGE, destination(fake_chat, "teams"), now())

    results = [deliver(http, "teams", request) for _ in range(5)]

    assert [r.ok for r in results] == [True] * 4 + [False]
    assert results[4] == DeliveryResult(False, teams.RATE_LIMIT_WAIT, False, "teams 429 in body")


# -- failures -------------------------------------------------------------------------------


@pytest.mark.parametrize("platform", PLATFORMS)
def test_injected_5xx_is_transient_and_the_next_attempt_succeeds(fake_chat: FakeChat, http: httpx.Client,
                                                                 platform: str) -> None:
    fake_chat.fail_next(platform, 2, status=503)
    request = build_request(MESSAGE, destination(fake_chat, platform), now())

    results = [deliver(http, platform, request) for _ in range(3)]

    assert [r.retry_after for r in results[:2]] == [TRANSIENT_RETRY_SECONDS] * 2
    assert not any(r.permanent for r in results)
    assert results[2].ok
    assert [r.reason for r in fake_chat.rejections(platform)] == ["injected", "injected"]


def test_an_injected_429_honours_retry_after(fake_chat: FakeChat, http: httpx.Client) -> None:
    fake_chat.fail_next("wecom", status=429, headers={"Retry-After": "7"})

    result = deliver(http, "wecom", build_request(MESSAGE, destination(fake_chat, "wecom"), now()))

    assert result == DeliveryResult(ok=False, retry_after=7.0, permanent=False, detail="wecom 429")


def test_an_injected_delay_trips_the_client_timeout_which_is_transient(fake_chat: FakeChat) -> None:
    fake_chat.fail_next("slack", delay=0.5, status=200, body="ok")
    request = build_request(MESSAGE, destination(fake_chat, "slack"), now())

    with httpx.Client(timeout=0.1) as client, pytest.raises(httpx.TimeoutException) as raised:
        client.post(request.url, headers=request.headers, content=request.body)

    result = interpret_transport_error("slack", raised.value)
    assert not result.ok and not result.permanent and result.retry_after == TRANSIENT_RETRY_SECONDS
    assert result.detail == "slack transport ReadTimeout"


@pytest.mark.parametrize(("platform", "detail"), [
    ("slack", "slack 404 no_service"),
    ("teams", "teams 404"),
    ("feishu", "feishu code 19001"),
    ("dingtalk", "dingtalk errcode 300001"),
    ("wecom", "wecom errcode 93000 invalid webhook url"),
])
def test_an_unknown_or_revoked_webhook_is_permanent(fake_chat: FakeChat, http: httpx.Client, platform: str,
                                                    detail: str) -> None:
    dest = destination(fake_chat, platform)
    fake_chat.unregister(platform, TOKENS[platform])

    result = deliver(http, platform, build_request(MESSAGE, dest, now()))

    assert result.permanent and result.detail == detail
    assert [r.reason for r in fake_chat.rejections(platform)] == ["unknown_token"]


@pytest.mark.parametrize(("platform", "body", "detail"), [
    ("slack", {}, "slack 400 no_text"),
    ("slack", {"text": "x", "blocks": [{"type": "header", "text": {"type": "plain_text", "text": "x" * 151}}]},
     "slack 400 invalid_blocks"),
    ("teams", {}, "teams 400 bad payload"),
    ("teams", {"type": "message", "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive",
               "content": {"type": "AdaptiveCard", "body": [], "actions": [{"type": "Action.Submit"}]}}]},
     "teams 400 bad payload"),
    ("feishu", {"msg_type": "interactive", "content": {"card": {"elements": []}}}, "feishu code 9499 bad request"),
    ("dingtalk", {"msgtype": "actionCard", "actionCard": {"title": "t", "text": "x"}}, "dingtalk errcode 40035"),
    ("wecom", {"msgtype": "markdown", "markdown": {"content": "新" * 1366}}, "wecom errcode 40058"),
    ("wecom", {"msgtype": "template_card", "template_card": {"card_type": "text_notice"}}, "wecom errcode 40058"),
])
def test_the_fake_rejects_malformed_payloads_with_the_platform_signal(fake_chat: FakeChat, http: httpx.Client,
                                                                      platform: str, body: dict, detail: str) -> None:
    url = fake_chat.register(platform, TOKENS[platform])

    response = http.post(url, json=body)

    result = interpret_response(platform, response.status_code, response.headers, response.content)
    assert result.permanent and result.detail == detail
    assert fake_chat.messages() == []


def test_teams_names_the_missing_summary_like_the_connector(fake_chat: FakeChat, http: httpx.Client) -> None:
    response = http.post(fake_chat.register("teams", "c"), json={"type": "message"})

    assert (response.status_code, response.text) == (400, "Summary or Text is required.")


def test_a_malformed_workflow_payload_is_accepted_then_lost(fake_chat: FakeChat, http: httpx.Client) -> None:
    # Workflows answer 202 before the flow runs; a MessageCard then fails silently.
    response = http.post(fake_chat.register("teams", "f", flavor="workflow"), json={"text": "hi"})

    assert response.status_code == 202
    assert fake_chat.messages() == [] and fake_chat.rejections("teams", "payload")


@pytest.mark.parametrize("platform", ["feishu", "dingtalk"])
def test_custom_keywords_must_appear_in_the_message(fake_chat: FakeChat, http: httpx.Client, platform: str) -> None:
    url = fake_chat.register(platform, "kw", keywords=("Leadrelay",))
    ok = deliver(http, platform, build_request(MESSAGE, ChatDestination(platform, url), now()))
    url = fake_chat.register(platform, "kw", keywords=("invoice",))
    missing = deliver(http, platform, build_request(MESSAGE, ChatDestination(platform, url), now()))

    assert ok.ok
    assert missing.permanent and fake_chat.rejections(platform, "keywords")


# -- size limits ------------------------------------------------------------------------------

HUGE = ChatMessage(
    kind="escalation",
    lead_id="lead_big",
    title="新的热门线索 " * 400 + "😀" * 500,
    facts=tuple((f"字段{i} " * 20, "値が長い😀 " * 2000) for i in range(MAX_FACTS + 5)),
    url="https://leadrelay.example/leads/lead_big",
    text="é" * 60_000,
)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_huge_messages_are_cut_to_fit_and_still_accepted(fake_chat: FakeChat, http: httpx.Client,
                                                         platform: str) -> None:
    request = build_request(HUGE, destination(fake_chat, platform), now())

    result = deliver(http, platform, request)

    assert result.ok, (result, fake_chat.rejections())
    body = payload(request)
    match platform:
        case "slack":
            assert len(request.body.decode()) <= slack.BODY_CHARS
            assert len(body["blocks"][0]["text"]["text"]) <= slack.HEADER_CHARS
        case "teams":
            assert teams.size(request.body) <= teams.MAX_BODY_BYTES
        case "feishu":
            assert len(request.body) <= feishu.MAX_BODY_BYTES
        case "dingtalk":
            assert len(request.body) <= dingtalk.MAX_BODY_BYTES
            assert body["actionCard"]["singleURL"] == HUGE.url  # links are never cut
        case "wecom":
            assert len(body["markdown"]["content"].encode()) <= wecom.MAX_CONTENT_BYTES
            assert body["markdown"]["content"].endswith(f"[Open in Leadrelay]({HUGE.url})")


def test_small_messages_are_not_cut() -> None:
    for platform in PLATFORMS:
        text = build_request(MESSAGE, ChatDestination(platform, "https://x/?k=1"), now()).body.decode()
        assert "…" not in text and "Jane Doe (ACME)" in text and "jane@acme.com" in text


def test_an_over_long_url_is_dropped_rather_than_broken() -> None:
    message = ChatMessage("assigned", "l1", "t", (), "https://x/" + "a" * 5000)

    body = payload(build_request(message, ChatDestination("dingtalk", "https://d/?access_token=t"), now()))

    assert body["msgtype"] == "markdown"


# -- shapes match the documented examples ------------------------------------------------------


def test_slack_shape_is_block_kit_with_a_text_fallback() -> None:
    body = payload(build_request(MESSAGE, ChatDestination("slack", "https://hooks/x"), now()))

    assert body["text"] == MESSAGE.title
    assert [b["type"] for b in body["blocks"]] == ["header", "section", "section", "actions"]
    assert body["blocks"][0]["text"] == {"type": "plain_text", "text": MESSAGE.title}
    assert body["blocks"][2]["fields"][0] == {"type": "mrkdwn", "text": "*Score*\n72 · hot"}
    [button] = body["blocks"][3]["elements"]
    assert button["type"] == "button" and button["url"] == MESSAGE.url and button["text"]["type"] == "plain_text"


def test_slack_escapes_control_sequences_in_lead_data() -> None:
    message = ChatMessage("assigned", "l1", "<!channel> & co", (("Name", "<@U123>"),), None)

    body = payload(build_request(message, ChatDestination("slack", "https://hooks/x"), now()))

    assert body["text"] == "&lt;!channel&gt; &amp; co"
    assert body["blocks"][1]["fields"][0]["text"] == "*Name*\n&lt;@U123&gt;"


def test_slack_splits_more_than_ten_facts_over_sections() -> None:
    message = ChatMessage("assigned", "l1", "t", tuple((f"k{i}", "v") for i in range(15)), None)

    blocks = payload(build_request(message, ChatDestination("slack", "https://hooks/x"), now()))["blocks"]

    assert [len(b.get("fields", [])) for b in blocks] == [0, 10, 5]


def test_teams_shape_is_an_adaptive_card_in_a_message_envelope() -> None:
    body = payload(build_request(MESSAGE, ChatDestination("teams", "https://x.webhook.office.com/x"), now()))

    assert body["type"] == "message"
    [attachment] = body["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert (card["type"], card["version"]) == ("AdaptiveCard", "1.2")
    assert card["body"][0]["text"] == MESSAGE.title
    assert card["body"][-1] == {"type": "FactSet", "facts": [{"title": k, "value": v} for k, v in MESSAGE.facts]}
    assert card["actions"] == [{"type": "Action.OpenUrl", "title": "Open in Leadrelay", "url": MESSAGE.url}]


def test_feishu_shape_is_an_interactive_card_at_the_top_level() -> None:
    body = payload(build_request(MESSAGE, ChatDestination("feishu", "https://f/hook/x"), now()))

    assert set(body) == {"msg_type", "card"} and body["msg_type"] == "interactive"
    assert body["card"]["header"]["title"] == {"tag": "plain_text", "content": MESSAGE.title}
    tags = [e["tag"] for e in body["card"]["elements"]]
    assert tags == ["div", "div", "action"]
    [button] = body["card"]["elements"][-1]["actions"]
    assert button["tag"] == "button" and button["url"] == MESSAGE.url
    # lead data goes in plain_text, so `<at id=all>` in a name is not a mention
    assert all(f["text"]["tag"] == "plain_text" for f in body["card"]["elements"][1]["fields"])


def test_dingtalk_shape_is_an_action_card_with_a_link_or_markdown_without() -> None:
    dest = ChatDestination("dingtalk", "https://d/robot/send?access_token=t")
    card = payload(build_request(MESSAGE, dest, now()))
    plain = payload(build_request(ChatMessage("reminder", "l1", "t", (("a", "b"),), None), dest, now()))

    assert card["msgtype"] == "actionCard"
    assert card["actionCard"]["title"] == MESSAGE.title
    assert card["actionCard"]["singleURL"] == MESSAGE.url and card["actionCard"]["singleTitle"]
    assert "- **Email**: jane@acme.com" in card["actionCard"]["text"]
    assert plain == {"msgtype": "markdown", "markdown": {"title": "t", "text": "#### t\n\n- **a**: b"}}


def test_wecom_shape_is_markdown_and_lead_data_cannot_mention_anyone() -> None:
    message = ChatMessage("assigned", "l1", "Lead <@all>", (("Name", "x\n# big"),), "https://x/a b")

    body = payload(build_request(message, ChatDestination("wecom", "https://q/send?key=k"), now()))

    assert body == {"msgtype": "markdown", "markdown": {"content": (
        '<font color="info">**Lead ‹@all›**</font>\n'
        '> Name: <font color="comment">x # big</font>\n'
        "[Open in Leadrelay](https://x/a%20b)"
    )}}


# -- interpretation details ----------------------------------------------------------------------


@pytest.mark.parametrize(("platform", "status", "headers", "body", "expected"), [
    ("teams", 200, {}, b"", DeliveryResult(False, TRANSIENT_RETRY_SECONDS, False, "teams 200 unexpected body")),
    ("teams", 200, {}, b"Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error 502",
     DeliveryResult(False, TRANSIENT_RETRY_SECONDS, False, "teams 502")),
    ("teams", 413, {}, b"... Microsoft Teams endpoint returned HTTP error 413 with ContextId x",
     DeliveryResult(False, None, True, "teams 413")),
    ("feishu", 429, {"x-ogw-ratelimit-reset": "3"}, b"", DeliveryResult(False, 3.0, False, "feishu 429 rate limited")),
    ("feishu", 200, {}, b'{"code":11232,"msg":"frequency limited"}',
     DeliveryResult(False, feishu.RATE_LIMIT_WAIT, False, "feishu code 11232 rate limited")),
    ("feishu", 200, {}, b"<html>", DeliveryResult(False, TRANSIENT_RETRY_SECONDS, False, "feishu 200 unreadable body")),
    ("dingtalk", 302, {}, b"", DeliveryResult(False, 600.0, False, "dingtalk 302 throttled")),
    ("dingtalk", 200, {}, b'{"errcode":90030,"errmsg":"webhook over limit"}',
     DeliveryResult(False, 600.0, False, "dingtalk errcode 90030 send too fast")),
    ("dingtalk", 200, {}, b'{"errcode":310000,"errmsg":"ip 10.1.2.3 not in whitelist"}',
     DeliveryResult(False, None, True, "dingtalk errcode 310000 ip not in whitelist")),
    ("wecom", 200, {}, b'{"errcode":45009,"errmsg":"api freq out of limit"}',
     DeliveryResult(False, 60.0, False, "wecom errcode 45009 rate limited")),
    ("wecom", 200, {}, b'{"errcode":-1,"errmsg":"system busy"}',
     DeliveryResult(False, TRANSIENT_RETRY_SECONDS, False, "wecom errcode -1 busy")),
    ("slack", 429, {"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, b"",
     DeliveryResult(False, slack.RATE_LIMIT_WAIT, False, "slack 429 rate_limited")),
    ("slack", 410, {}, b"channel_is_archived", DeliveryResult(False, None, True, "slack 410 channel_is_archived")),
    ("slack", 500, {}, b"rollup_error", DeliveryResult(False, TRANSIENT_RETRY_SECONDS, False, "slack 500 rollup_error")),
])
def test_interpret_response(platform: str, status: int, headers: dict, body: bytes, expected: DeliveryResult) -> None:
    assert interpret_response(platform, status, headers, body) == expected


def test_unknown_platforms_kinds_and_naive_times_are_refused() -> None:
    with pytest.raises(ValueError):
        build_request(MESSAGE, ChatDestination("telegram", "https://t"), now())
    with pytest.raises(ValueError):
        interpret_response("telegram", 200, {}, b"")
    with pytest.raises(ValueError):
        build_request(MESSAGE, ChatDestination("slack", "https://s"), datetime(2024, 1, 1))
    with pytest.raises(ValueError):
        ChatMessage("hot", "l1", "t", (), None)
