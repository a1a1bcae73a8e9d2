"""A rep's "Not mine" reaches their team's manager: who handed which lead back and why, in the
manager's language, with Reassign to… and Open, as an escalation has; from a chat link or the API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import SLA_EPOCHS, FakeClock
from tests.platforms.chat_links import (
    buttons,
    chat_pipeline,
    lead_as_admin,
    message_for,
    one_rep_policy,
    path_of,
    post,
)
from tests.platforms.fake_chat import FakeChat


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(SLA_EPOCHS["future"])  # a Wednesday, 10:00 in Shanghai


def text_of(payload: dict) -> str:
    return json.dumps(payload, ensure_ascii=False)


@pytest.mark.parametrize("backend", ["embedded", "distributed"])
async def test_not_mine_by_link_tells_the_manager_who_which_lead_and_why(backend: str, tmp_path: Path, chat: FakeChat,
                                                                         clock: FakeClock):
    async with chat_pipeline(backend, tmp_path, chat, one_rep_policy(chat), clock) as desk:
        lead_id = await post(desk)
        rep_message = await message_for(chat, "slack", lead_id, "rep-x")
        not_mine = path_of(buttons("slack", rep_message.payload)["Not mine"])
        done = await desk.client.post(not_mine, data={"reason": "wrong_territory", "note": "They are in Beijing"})
        assert done.status_code == 200, done.text

        told = (await message_for(chat, "slack", lead_id, "mgr-m")).payload
        assert told["blocks"][0]["text"]["text"] == "Li Wei handed a lead back: Li Wei (Big Factory)"
        text = text_of(told)
        assert "Why: wrong territory: They are in Beijing." in text and "back in the team pool" in text
        links = buttons("slack", told)
        assert set(links) == {"Reassign to…", "Open in Leadrelay"}
        assert links["Open in Leadrelay"].endswith(f"/leads/{lead_id}")  # the lead's page

        # The manager gives it to the desk's other rep from the message.
        reassigned = await desk.client.post(path_of(links["Reassign to…"]), data={"to_rep": "rep-y"})
        assert reassigned.status_code == 200, reassigned.text
        lead = await lead_as_admin(desk, lead_id)
        assert (lead["owner"], lead["status"]) == ("rep-y", "assigned")
        [notified] = [n for n in lead["notifications"] if n["kind"] == "not_mine"]
        assert notified["recipient"] == "mgr-m"


async def test_not_mine_through_the_api_tells_a_chinese_reading_manager_in_chinese(tmp_path: Path, chat: FakeChat,
                                                                                   clock: FakeClock):
    policy = one_rep_policy(chat).replace("{id: mgr-m, name: Zhou Min,", "{id: mgr-m, name: Zhou Min, languages: [zh-CN],")
    assert "languages: [zh-CN]" in policy
    async with chat_pipeline("embedded", tmp_path, chat, policy, clock) as desk:
        lead_id = await post(desk)
        rep = {"Authorization": f"Bearer {await desk.token('rep', 'rep-x')}"}
        without_reason = await desk.client.post(f"/v1/leads/{lead_id}/activity", json={"action": "not_mine"},
                                                headers=rep)
        assert without_reason.status_code == 422
        assert without_reason.headers["content-type"].startswith("application/problem+json")
        response = await desk.client.post(f"/v1/leads/{lead_id}/activity",
                                          json={"action": "not_mine", "reason": "客户在北京"}, headers=rep)
        assert response.status_code == 200, response.text
        assert (response.json()["status"], response.json()["owner"]) == ("pool", None)

        told = (await message_for(chat, "slack", lead_id, "mgr-m")).payload
        assert told["blocks"][0]["text"]["text"] == "Li Wei 退回了线索：Li Wei（Big Factory）"
        text = text_of(told)
        assert "原因：客户在北京。" in text and "线索已退回公海" in text
        assert set(buttons("slack", told)) == {"改派给…", "在 Leadrelay 中打开"}
        [entry] = [h for h in (await lead_as_admin(desk, lead_id))["history"] if h["kind"] == "not_mine"]
        assert (entry["reason"], entry["via"]) == ("客户在北京", "api")
