"""The rep's message, in English and Chinese, is accepted by every faithful fake platform and
shows the deadline, the lead id and the link there."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from rich.console import Console

from leadrelay.services.notifier.chat_sink import show
from leadrelay.services.notifier.messages import Handover, LeadCard, Reader, lead_message
from leadrelay.services.notifier.platforms import PLATFORMS, ChatDestination, build_request, interpret_response
from tests.platforms.fake_chat import FakeChat

AT = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
LEAD = LeadCard(
    lead_id="3f1c8e2a-5b7d-4c1e-9a2f-0d6b8e4c7a91", source="meta", score=75, grade="hot",
    contact={"name": "王芳 <@all>", "company": "大工厂 & Co", "title": "总经理 *CEO*", "phone": "+8613800138000",
             "email": "wang.fang@bigfactory.cn", "industry": "manufacturing\n# big", "employees": 5000},
    reasons=(("senior-title", 40), ("big-company", 25)),
)
HANDOVER = Handover(role="owner", owner="rep-b", previous_owner="rep-a", backup_for="rep-a", at=AT,
                    first_touch_due_at=AT + timedelta(minutes=15), first_touch_target=timedelta(minutes=15))
EXPECTED = {
    "en": ("First touch by 10:15 (Asia/Shanghai), 15 min.", "Open in Leadrelay"),
    "zh": ("请在 10:15（Asia/Shanghai）前首次联系，时限 15 分钟。", "在 Leadrelay 中打开"),
}
SIGNED = {"feishu": "feishu-secret", "dingtalk": "SECdingtalk-secret"}


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5) as client:
        yield client


@pytest.mark.parametrize("language", sorted(EXPECTED))
@pytest.mark.parametrize("platform", PLATFORMS)
def test_the_reps_message_is_delivered_with_its_deadline_id_and_link(fake_chat: FakeChat, http: httpx.Client,
                                                                     platform: str, language: str) -> None:
    message = lead_message("reassigned", LEAD, Reader("rep-b", language, "Asia/Shanghai"),  # type: ignore[arg-type]
                           "https://leadrelay.example", HANDOVER)
    url = fake_chat.register(platform, f"{platform}-{language}", secret=SIGNED.get(platform))
    # Signed with the fake's (real) time, like the other platform tests; the message's own times are fixed.
    request = build_request(message, ChatDestination(platform, url, SIGNED.get(platform)), datetime.now(UTC))

    response = http.post(request.url, headers=request.headers, content=request.body)
    result = interpret_response(platform, response.status_code, response.headers, response.content)

    assert result.ok, (result, fake_chat.rejections(platform))
    shown = json.dumps(fake_chat.messages(platform)[0].payload, ensure_ascii=False)
    deadline, link_text = EXPECTED[language]
    assert deadline in shown and link_text in shown
    assert LEAD.lead_id in shown and f"https://leadrelay.example/console/leads/{LEAD.lead_id}" in shown


def test_the_demo_chat_sink_prints_the_title_once_and_the_link() -> None:
    message = lead_message("assigned", LEAD, Reader("rep-b"), "https://leadrelay.example", HANDOVER)
    payload = json.loads(build_request(message, ChatDestination("slack", "https://hooks.example"), AT).body)
    console = Console(record=True, width=200)
    show(console, "rep-b", payload)
    printed = console.export_text()
    assert printed.count(message.title) == 1  # `text`, Slack's notification fallback, is not printed again
    assert "First touch by 02:15 (UTC), 15 min." in printed  # a reader with no zone: UTC
    assert f"[open] Open in Leadrelay: https://leadrelay.example/console/leads/{LEAD.lead_id}" in printed
