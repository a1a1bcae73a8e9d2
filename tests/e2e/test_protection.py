"""The protection period (保护期 / 防撞单) on the embedded pipeline, driven by the FakeClock: a
protected person's new lead goes to the protecting rep whatever the rules say, another rep's
pool claim is refused with the reason, both collisions are in the lead's history and in both
managers' chat, and once the period has run out the person is open again."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from zoneinfo import ZoneInfo

from leadrelay.shared.shell.bootstrap import apply_policy, create_source
from tests.conftest import chat_messages_for, policy_text, running_pipeline

SHANGHAI = ZoneInfo("Asia/Shanghai")
PROTECTION = "protection: {days: 30, extend_per_activity_days: 7, max_days: 90}\n"


def protected_policy(chat) -> str:
    """The e2e policy without its returning-person rule (so the rules would give a returning
    person's lead away), with a second smb rep, no SLA ladder in the way, and leads of sources
    other than web waiting in the fallback queue for any rep to claim."""
    text = policy_text(chat)
    text = text.replace("  - {name: returning-person, when: {known_owner: {exists: true}}, strategy: owner}\n", "")
    text = text.replace("  first_touch: {hot: 15m, warm: 4h, cold: 1d}\n", "  first_touch: {hot: null, warm: null, cold: null}\n")
    text = text.replace("  handoff: 24h\n", "  handoff: 90d\n").replace("recycle_unworked_after: 7d", "recycle_unworked_after: null")
    text = text.replace("{name: everyone-else, when: {}", "{name: everyone-else, when: {source: web}")
    rep_d = ("  - id: rep-d\n    team: smb\n    seniority: junior\n    capacity: {open: 1000, per_day: 1000}\n"
             "    working_hours: {days: [mon, tue, wed, thu, fri, sat, sun], start: \"00:00\", end: \"24:00\"}\n")
    text = text.replace("\nrules:\n", "\n" + rep_d + "rules:\n", 1)
    assert "returning-person" not in text and "rep-d" in text
    return text + PROTECTION


COLD = {"email": "wang.fang@bigfactory.cn", "name": "Wang Fang", "company": "Big Factory"}
HOT = {**COLD, "title": "CEO", "employees": 5000}  # the same person, now hot: the enterprise rule's


async def collision_messages(chat, lead_id: str, count: int, timeout: float = 15) -> list:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        found = [m for m in chat_messages_for(chat, lead_id) if "Collision" in str(m.payload)]
        if len(found) >= count:
            return found
        assert asyncio.get_running_loop().time() < deadline, f"{len(found)} collision messages for {lead_id}"
        await asyncio.sleep(0.05)


async def test_two_reps_never_get_one_person_inside_the_period(tmp_path, chat, clock):
    async with running_pipeline("embedded", tmp_path, chat, clock=clock, policy=protected_policy(chat)) as pipeline:
        def day(n: float) -> str:
            return f"{(clock.start + timedelta(days=n)).astimezone(SHANGHAI):%Y-%m-%d}"

        fair_key = await create_source(pipeline.runtime, "trade-fair")
        first = (await pipeline.post_lead(COLD, key=fair_key)).json()["lead_id"]
        assert (await pipeline.wait_for(first, state=("queued",)))["queue"] == "unassigned"  # no rule: anyone may claim
        web = (await pipeline.post_lead(COLD)).json()["lead_id"]
        assert (await pipeline.wait_for(web))["owner"] == "rep-c"  # everyone-else, round robin: rep-c first

        clock.advance(days=1)
        second = (await pipeline.post_lead(HOT)).json()["lead_id"]
        lead = await pipeline.wait_for(second)
        assert lead["owner"] == "rep-c"  # not rep-a or rep-b, whom hot-enterprise would have chosen
        decision = lead["decision"]
        assert decision["rule"] == "protection"
        would = decision["arithmetic"]["rules_decision"]
        assert would["rule"] == "hot-enterprise" and would["owner"] in ("rep-a", "rep-b")
        assert decision["summary"] == (f"protected for rep-c until {day(30)}: assigned {day(0)}; "
                                       f"rule 'hot-enterprise' would have given it to {would['owner']}")
        collision = next(h for h in lead["history"] if h["kind"] == "collision")
        assert (collision["how"], collision["other_rep"]) == ("routing", would["owner"])
        # Both managers are told (mgr-a of the enterprise rep the rule chose, mgr-b of rep-c).
        told = await collision_messages(chat, second, count=2)
        assert all(m.token.endswith("webhook_mgr") for m in told)
        assert any(f"until {day(30)}" in str(m.payload) for m in told)

        rep_c = await pipeline.token("rep", "rep-c")
        clock.advance(days=1)
        converted = await pipeline.client.post(f"/v1/leads/{second}/activity", json={"action": "converted"},
                                               headers={"Authorization": f"Bearer {rep_c}"})
        assert converted.status_code == 200, converted.text

        clock.advance(days=1)
        rep_d = await pipeline.token("rep", "rep-d")
        refused = await pipeline.client.post(f"/v1/pool/{first}/claim", headers={"Authorization": f"Bearer {rep_d}"})
        assert refused.status_code == 409, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        problem = refused.json()
        assert f"protected for rep-c until {day(30)}: assigned {day(0)}" in problem["detail"]
        assert problem["errors"] == [{"field": "lead", "reason": "person protected for another rep"}]
        again = await pipeline.client.post(f"/v1/pool/{first}/claim", headers={"Authorization": f"Bearer {rep_d}"})
        assert again.status_code == 409
        pooled = await pipeline.wait_for(first, state=("queued",))
        claims = [h for h in pooled["history"] if h["kind"] == "collision"]
        assert [(c["how"], c["other_rep"]) for c in claims] == [("claim", "rep-d")]  # recorded once
        await collision_messages(chat, first, count=1)  # rep-c and rep-d share mgr-b: one message

        # Day 30: the period has run out (the conversion on day 2 kept it no later than 30 days).
        clock.advance(days=27)
        claimed = await pipeline.client.post(f"/v1/pool/{first}/claim", headers={"Authorization": f"Bearer {rep_d}"})
        assert claimed.status_code == 200, claimed.text
        assert claimed.json()["owner"] == "rep-d"

        # Now the person is rep-d's: a new lead goes to them, not to the enterprise rule's reps.
        clock.advance(hours=1)
        third = (await pipeline.post_lead({**HOT, "title": "CTO"})).json()["lead_id"]
        lead = await pipeline.wait_for(third)
        assert lead["owner"] == "rep-d"
        assert lead["decision"]["summary"].startswith(f"protected for rep-d until {day(60)}: assigned {day(30)}")

        # A protecting rep gone from the policy protects nobody: the rules decide again.
        await apply_policy(pipeline.runtime, protected_policy(chat).replace("  - id: rep-d\n", "  - id: rep-e\n"),
                           "test")
        clock.advance(hours=1)
        fourth = (await pipeline.post_lead(HOT)).json()["lead_id"]
        lead = await pipeline.wait_for(fourth)
        assert lead["owner"] in ("rep-a", "rep-b") and lead["decision"]["rule"] == "hot-enterprise"
