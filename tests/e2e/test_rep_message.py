"""What the rep reads in chat, end to end: who and why, the deadline in their own time zone, the
lead's id and link, the backup note, in their language; and the lead's history says `notified`."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from zoneinfo import ZoneInfo

from leadrelay.services.notifier.chat_sink import message_lines
from tests.conftest import FakeClock, Pipeline, chat_messages_for, policy_text, running_pipeline
from tests.e2e.test_sla import admin_view, scheduler_pass

HOT = {"email": "li.wei@bigfactory.cn", "phone": "+86 138 0013 8000", "name": "Li Wei", "company": "Big Factory",
       "title": "CTO", "employees": 2000, "country": "CN", "industry": "manufacturing"}


async def messages_to(chat, lead_id: str, webhook: str, count: int = 1, timeout: float = 15.0) -> list[list[str]]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        found = [message_lines(m.payload) for m in chat_messages_for(chat, lead_id) if m.token.endswith(webhook)]
        if len(found) >= count:
            return found
        assert asyncio.get_running_loop().time() < deadline, f"no message to {webhook} for {lead_id}"
        await asyncio.sleep(0.05)


async def notified(pipeline: Pipeline, lead_id: str, timeout: float = 15.0) -> dict:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        lead = await admin_view(pipeline, lead_id)
        if any(h["kind"] == "notified" for h in lead["history"]):
            return lead
        assert asyncio.get_running_loop().time() < deadline, f"no notified entry: {lead['history']}"
        await asyncio.sleep(0.05)


async def test_the_owner_reads_who_why_the_deadline_the_lead_id_and_its_link(clocked_pipeline, chat, clock):
    pipeline = clocked_pipeline
    lead_id = (await pipeline.post_lead(HOT)).json()["lead_id"]
    owner = (await pipeline.wait_for(lead_id))["owner"]
    [lines] = await messages_to(chat, lead_id, "webhook_a" if owner == "rep-a" else "webhook_b")

    # The clock reads 10:00 in Shanghai, the reps' zone: a hot lead is due 15 minutes later.
    assert lines[0] == "New hot lead: Li Wei (Big Factory)"
    assert sum(line.count("Li Wei") for line in lines) == 1  # the title once
    assert lines[1] == "First touch by 10:15 (Asia/Shanghai), 15 min."
    for fact in ("Job title: CTO", "Score: 65 · hot", "Why: senior-title +40, big-company +25",
                 "Phone: +8613800138000", "Email: li.wei@bigfactory.cn", f"Lead ID: {lead_id}"):
        assert fact in lines
    assert f"Open in Leadrelay: http://leadrelay.test/console/leads/{lead_id}" in lines

    lead = await notified(pipeline, lead_id)
    kinds = [h["kind"] for h in lead["history"]]
    assert kinds.count("assigned") == 1 and kinds.index("assigned") < kinds.index("notified")
    entry = next(h for h in lead["history"] if h["kind"] == "notified")
    assert (entry["platform"], entry["recipient"], entry["message"]) == ("slack", owner, "assigned")
    assert "http" not in str(entry)  # no webhook URL


def chinese_reps(chat) -> str:
    """rep-a reads Chinese in Shanghai, rep-b Chinese in Tokyo; each is the other's backup."""
    text = policy_text(chat)
    text = text.replace("    backup: rep-b\n", "    backup: rep-b\n    languages: [zh, en]\n")
    text = text.replace("    timezone: Asia/Shanghai\n    working_hours: {days: [mon, tue, wed, thu, fri, sat, sun], "
                        "start: \"00:00\", end: \"24:00\"}\n    backup: rep-a\n",
                        "    timezone: Asia/Tokyo\n    working_hours: {days: [mon, tue, wed, thu, fri, sat, sun], "
                        "start: \"00:00\", end: \"24:00\"}\n    backup: rep-a\n    languages: [zh-CN]\n")
    assert text.count("languages: [zh") == 2 and "Asia/Tokyo" in text
    return text


async def test_a_backup_reads_whom_they_stand_in_for_in_chinese_with_their_own_deadline(tmp_path, chat,
                                                                                          clock: FakeClock):
    async with running_pipeline("embedded", tmp_path, chat, clock=clock, policy=chinese_reps(chat)) as pipeline:
        lead_id = (await pipeline.post_lead(HOT)).json()["lead_id"]
        owner = (await pipeline.wait_for(lead_id))["owner"]
        backup = {"rep-a": "rep-b", "rep-b": "rep-a"}[owner]
        zone = {"rep-a": "Asia/Shanghai", "rep-b": "Asia/Tokyo"}
        webhook = {"rep-a": "webhook_a", "rep-b": "webhook_b"}
        [first] = await messages_to(chat, lead_id, webhook[owner])
        due = (clock.start + timedelta(minutes=15)).astimezone(ZoneInfo(zone[owner]))
        assert first[0] == "新线索（热）：Li Wei（Big Factory）"
        assert first[1] == f"请在 {due:%H:%M}（{zone[owner]}）前首次联系，时限 15 分钟。"
        assert f"线索 ID: {lead_id}" in first

        clock.advance(minutes=23)  # past 150% of the first touch: the backup takes over
        await scheduler_pass(pipeline)
        assert (await pipeline.wait_for(lead_id))["owner"] == backup
        [*_, taken] = await messages_to(chat, lead_id, webhook[backup])
        due = (clock.now + timedelta(minutes=15)).astimezone(ZoneInfo(zone[backup]))
        assert taken[0] == "线索改派给你（热）：Li Wei（Big Factory）"
        assert taken[1] == f"你是 {owner} 的备份，这条线索现在由你跟进。"
        assert taken[2] == f"请在 {due:%H:%M}（{zone[backup]}）前首次联系，时限 15 分钟。"
        handed_over = (await messages_to(chat, lead_id, webhook[owner], count=4))[-1]
        assert handed_over[0] == f"线索已改派给 {backup}：Li Wei（Big Factory）"
        assert handed_over[1] == f"已从你改派给 {backup}，你无需再跟进。"
        assert not any("首次联系" in line for line in handed_over)
