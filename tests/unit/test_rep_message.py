"""The rep's chat message, built from plain data: who and why, the deadline in the reader's own
time zone and language, the lead's id and link, and why the lead came to them."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from leadrelay.services.notifier.handler import NotifierHandler
from leadrelay.services.notifier.messages import (
    Handover,
    LeadCard,
    Reader,
    language_of,
    lead_message,
    message_from_json,
    message_to_json,
)
from leadrelay.services.router.clocks import first_touch_deadline
from leadrelay.shared.events import Envelope, LeadAssigned, LeadContact, LeadSummary, ScoreReason
from leadrelay.shared.policy import load_policy
from tests.conftest import policy_text
from tests.fakes import MemoryStore

AT = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)  # a Wednesday, 10:00 in Shanghai
LEAD = LeadCard(
    lead_id="3f1c8e2a-5b7d-4c1e-9a2f-0d6b8e4c7a91", source="web", score=75, grade="hot", queue=None,
    contact={"name": "Li Wei", "company": "Big Factory", "title": "CTO", "email": "li.wei@bigfactory.cn",
             "phone": "+8613800138000", "employees": 2000, "city": "Suzhou", "country": "CN"},
    reasons=(("free-email", -10), ("big-company", 25), ("senior-title", 40), ("referral", 30), ("event", 5)),
)
HOT_DEADLINE = Handover(role="owner", owner="rep-a", first_touch_due_at=AT + timedelta(minutes=15),
                        first_touch_target=timedelta(minutes=15), at=AT, rule="hot-enterprise")


def test_the_owner_reads_who_why_the_deadline_the_lead_id_and_the_link():
    message = lead_message("assigned", LEAD, Reader("rep-a", "en", "Asia/Shanghai"), "https://lr.example/",
                           HOT_DEADLINE)
    assert message.title == "New hot lead: Li Wei (Big Factory)"
    assert message.text == "First touch by 10:15 (Asia/Shanghai), 15 min."
    facts = dict(message.facts)
    assert facts["Job title"] == "CTO" and facts["Score"] == "75 · hot"
    assert facts["Why"] == "senior-title +40, referral +30, big-company +25"  # the top three, largest first
    assert facts["Phone"] == "+8613800138000" and facts["Email"] == "li.wei@bigfactory.cn"
    assert facts["Lead ID"] == LEAD.lead_id and facts["Location"] == "Suzhou, CN"
    assert message.url == f"https://lr.example/console/leads/{LEAD.lead_id}"
    assert message.link_text == "Open in Leadrelay"
    # The title is said once: not again as a fact, nor in the text.
    assert not any("Li Wei" in value for _, value in message.facts) and "Li Wei" not in message.text


def test_a_chinese_speaking_rep_reads_chinese_with_the_deadline_in_their_own_zone():
    reader = Reader("rep-b", language_of(["zh", "en"]), "Asia/Tokyo")
    message = lead_message("assigned", LEAD, reader, "https://lr.example", HOT_DEADLINE)
    assert message.title == "新线索（热）：Li Wei（Big Factory）"
    assert message.text == "请在 11:15（Asia/Tokyo）前首次联系，时限 15 分钟。"
    assert dict(message.facts)["线索 ID"] == LEAD.lead_id
    assert message.link_text == "在 Leadrelay 中打开"


@pytest.mark.parametrize(("languages", "expected"), [
    (["zh"], "zh"), (["zh-CN", "en"], "zh"), (["ZH_hans"], "zh"), (["en", "zh"], "en"), (["ja"], "en"), ([], "en"),
])
def test_the_reps_first_language_decides(languages: list[str], expected: str):
    assert language_of(languages) == expected


def test_a_backup_is_told_whom_they_stand_in_for():
    handover = Handover(role="owner", owner="rep-b", backup_for="Alice", previous_owner="Alice",
                        first_touch_due_at=AT + timedelta(minutes=15), first_touch_target=timedelta(minutes=15), at=AT)
    en = lead_message("reassigned", LEAD, Reader("rep-b", "en", "Asia/Shanghai"), "https://lr.example", handover)
    assert en.title == "Lead reassigned to you (hot): Li Wei (Big Factory)"
    assert en.text.splitlines() == ["You are the backup for Alice: this lead is yours now.",
                                    "First touch by 10:15 (Asia/Shanghai), 15 min."]
    zh = lead_message("reassigned", LEAD, Reader("rep-b", "zh", "Asia/Shanghai"), "https://lr.example", handover)
    assert zh.text.splitlines()[0] == "你是 Alice 的备份，这条线索现在由你跟进。"


def test_a_reassignment_says_from_whom_and_the_previous_owner_is_told_it_left_them():
    handover = Handover(role="owner", owner="rep-b", previous_owner="rep-a", at=AT,
                        first_touch_due_at=AT + timedelta(minutes=15), first_touch_target=timedelta(minutes=15))
    mine = lead_message("reassigned", LEAD, Reader("rep-b"), "https://lr.example", handover)
    assert mine.text.splitlines()[0] == "Reassigned to you from rep-a."
    gone = lead_message("reassigned", LEAD, Reader("rep-a"), "https://lr.example",
                        replace(handover, role="previous_owner"))
    assert gone.title == "Lead reassigned to rep-b: Li Wei (Big Factory)"
    assert gone.text == "Reassigned from you to rep-b: nothing more to do."  # no deadline: not theirs any more


def test_a_deadline_on_another_day_carries_its_date_and_long_targets_read_naturally():
    friday = datetime(2026, 11, 27, 9, 50, tzinfo=UTC)  # 17:50 in Shanghai
    handover = Handover(first_touch_due_at=datetime(2026, 11, 30, 1, 5, tzinfo=UTC),
                        first_touch_target=timedelta(minutes=15), at=friday)
    message = lead_message("assigned", LEAD, Reader("rep-a", "en", "Asia/Shanghai"), "https://lr.example", handover)
    assert message.text == "First touch by 2026-11-30 09:05 (Asia/Shanghai), 15 min."
    for target, en, zh in ((timedelta(hours=4), "4 h", "4 小时"), (timedelta(days=1), "1 day", "1 天"),
                           (timedelta(hours=1, minutes=30), "1 h 30 min", "1 小时 30 分钟")):
        later = Handover(first_touch_due_at=AT + target, first_touch_target=target, at=AT)
        assert lead_message("assigned", LEAD, Reader("x"), "u", later).text.endswith(f", {en}.")
        assert lead_message("assigned", LEAD, Reader("x", "zh"), "u", later).text.endswith(f"时限 {zh}。")


def test_a_message_survives_its_round_trip_through_the_delivery_row():
    message = lead_message("assigned", LEAD, Reader("rep-b", "zh", "Asia/Shanghai"), "https://lr.example",
                           HOT_DEADLINE)
    assert message_from_json(message_to_json(message)) == message
    old_row = {k: v for k, v in message_to_json(message).items() if k != "link_text"}  # queued before the field
    assert message_from_json(old_row).link_text == "Open in Leadrelay"


# -- where the deadline comes from: the router plans it with the clocks ------------------------------


def test_the_first_touch_deadline_is_the_clocks_arithmetic_in_the_owners_calendar():
    wall = load_policy(policy_text(None))
    rep = wall.rep("rep-a")
    assert first_touch_deadline(wall, rep, "hot", AT) == (AT + timedelta(minutes=15), timedelta(minutes=15))
    office = load_policy(policy_text(None).replace("  clock: wall", "  clock: business_hours")
                         .replace('start: "00:00", end: "24:00"', 'start: "09:00", end: "18:00"'))
    friday = datetime(2026, 11, 27, 9, 50, tzinfo=UTC)  # 17:50 in Shanghai: 10 minutes on Friday, 5 on Monday
    due, target = first_touch_deadline(office, office.rep("rep-a"), "hot", friday)
    assert due == datetime(2026, 11, 30, 1, 5, tzinfo=UTC) and target == timedelta(minutes=15)
    no_cold_clock = load_policy(policy_text(None).replace("first_touch: {hot: 15m, warm: 4h, cold: 1d}",
                                                          "first_touch: {hot: 15m, warm: 4h, cold: null}"))
    assert first_touch_deadline(no_cold_clock, rep, "cold", AT) is None


# -- the notifier: one message per reader, from the event and the policy ------------------------------


def summary_of(card: LeadCard) -> LeadSummary:
    return LeadSummary(source=card.source, contact=LeadContact(**card.contact), score=card.score, grade=card.grade,
                       reasons=[ScoreReason(rule=rule, points=points) for rule, points in card.reasons],
                       queue=card.queue)


async def test_each_reader_gets_the_message_in_their_language_and_zone():
    text = policy_text(None).replace("    backup: rep-b\n", "    backup: rep-b\n    languages: [zh, en]\n    name: 李娜\n")
    text = text.replace("    backup: rep-a\n", "    backup: rep-a\n    name: Bob\n", 1)
    text = text.replace("timezone: Asia/Shanghai\n    working_hours", "timezone: Asia/Tokyo\n    working_hours", 1)
    policy = load_policy(text)
    assert policy.rep("rep-a").timezone == "Asia/Tokyo"
    event = LeadAssigned(lead_id=LEAD.lead_id, received_at=AT, assigned_at=AT, owner="rep-a", rule="reassigned",
                         policy_version=1, grade="hot", score=75, reason="reassigned", previous_owner="rep-b",
                         backup_for="rep-b", notify=["rep-a", "rep-b", "mgr-a"],
                         first_touch_due_at=AT + timedelta(minutes=15), first_touch_target=timedelta(minutes=15),
                         lead=summary_of(LEAD))
    envelope = Envelope.wrap(event, source="test", subject=LEAD.lead_id, key="k", correlation_id="c", time=AT)
    store = MemoryStore()
    async with store.transaction() as uow:
        await uow.policies.store(text)
        await NotifierHandler("https://lr.example", lambda: None)(event, envelope, uow)
        deliveries = await uow.deliveries.for_lead(LEAD.lead_id)

    sent = {d.recipient: message_from_json(d.message) for d in deliveries}
    assert sent["rep-a"].text.splitlines() == ["你是 Bob 的备份，这条线索现在由你跟进。",
                                               "请在 11:15（Asia/Tokyo）前首次联系，时限 15 分钟。"]
    assert sent["rep-b"].text == "Reassigned from you to 李娜: nothing more to do."
    assert sent["mgr-a"].text.splitlines() == ["Owner: 李娜.", "First touch by 10:15 (Asia/Shanghai), 15 min."]
    assert {d.platform for d in deliveries} == {"slack"}
