"""After hours: a lead nobody covering can take because they are all off shift is held for the
next shift, sent to the team pool, or (the default) given to a backup, as the policy says."""

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from leadrelay.services.router.availability import next_shift_start, profile_of
from leadrelay.services.router.routing import RepLoad, RosterState, RoutingDecision, RoutingLead, decide_route
from leadrelay.shared.policy import Policy, PolicyError, policy_from_dict

SHANGHAI = ZoneInfo("Asia/Shanghai")
OFFICE = {"days": ["mon-fri"], "start": "09:00", "end": "18:00"}
ALWAYS = {"days": ["mon-sun"], "start": "00:00", "end": "24:00"}
FRIDAY_8PM = datetime(2026, 6, 5, 20, 0, tzinfo=SHANGHAI)
MONDAY_9AM = datetime(2026, 6, 8, 9, 0, tzinfo=SHANGHAI)
EAST = {"country": "CN", "region": "Shanghai"}


def make_policy(after_hours: str | None = None, rule_after_hours: str | None = None, *, with_wu: bool = True,
                **rep_fields: Any) -> Policy:
    """rep-li on business hours (backed up by rep-night) and rep-wu from 10:00 cover CN-east."""
    rule: dict[str, Any] = {"name": "by-territory", "strategy": "territory", "pool": {"team": "cn"}}
    if rule_after_hours:
        rule["after_hours"] = rule_after_hours
    document: dict[str, Any] = {
        "timezone": "Asia/Shanghai",
        "business_hours": {**OFFICE, "holidays": "CN"},
        "territories": {"CN-east": {"countries": ["CN"], "regions": ["Shanghai", "Zhejiang"]}},
        "teams": [{"name": "cn", "manager": "mgr-cn"}],
        "managers": [{"id": "mgr-cn"}],
        "reps": [
            {"id": "rep-li", "team": "cn", "territories": ["CN-east"], "backup": "rep-night", **rep_fields},
            {"id": "rep-wu", "team": "cn", "territories": ["CN-east"], "working_hours": {**OFFICE, "start": "10:00"}},
            {"id": "rep-night", "team": "cn", "territories": [], "working_hours": ALWAYS},
        ],
        "rules": [rule],
    }
    if not with_wu:
        document["reps"] = [rep for rep in document["reps"] if rep["id"] != "rep-wu"]
    if after_hours:
        document["after_hours"] = after_hours
    return policy_from_dict(document)


def route(policy: Policy, now: datetime, roster: RosterState | None = None) -> RoutingDecision:
    return decide_route(RoutingLead("lead-1", EAST), policy, roster or RosterState(), now)


def test_by_default_a_lead_after_hours_goes_to_the_backup_as_before() -> None:
    decision = route(make_policy(), FRIDAY_8PM)
    assert (decision.owner, decision.via, decision.held_until) == ("rep-night", "backup", None)


def test_hold_waits_for_the_first_minute_a_covering_rep_comes_on_shift() -> None:
    decision = route(make_policy(after_hours="hold"), FRIDAY_8PM)
    assert (decision.owner, decision.queue, decision.via) == (None, None, "hold")
    assert decision.held_until == MONDAY_9AM.astimezone(UTC)
    assert decision.summary == "held until Mon 09:00 Asia/Shanghai: nobody covering cn-east on shift"
    assert decision.notify == ["mgr-cn"]
    assert decision.arithmetic["first_on_shift"] == "rep-li"
    assert decision.arithmetic["after_hours"] == "hold"
    assert decision.model_dump(mode="json")["held_until"] == "2026-06-08T01:00:00Z"
    assert "held for the next shift" in decision.explain()


def test_a_rule_says_what_happens_after_hours_over_the_policys_default() -> None:
    assert route(make_policy(after_hours="hold", rule_after_hours="backup"), FRIDAY_8PM).via == "backup"
    assert route(make_policy(after_hours="backup", rule_after_hours="hold"), FRIDAY_8PM).via == "hold"


def test_pool_sends_the_lead_to_the_team_pool_at_once() -> None:
    decision = route(make_policy(after_hours="pool"), FRIDAY_8PM)
    assert (decision.owner, decision.queue, decision.via) == (None, "pool", "pool")
    assert decision.arithmetic["team"] == "cn"
    assert decision.summary == "nobody covering cn-east on shift until Mon 09:00 Asia/Shanghai; sent to the team pool"


def test_a_lead_in_hours_routes_as_ever_whatever_after_hours_says() -> None:
    decision = route(make_policy(after_hours="hold"), MONDAY_9AM + timedelta(hours=2))
    assert decision.via == "strategy" and decision.owner in ("rep-li", "rep-wu")


def test_busy_reps_on_shift_are_not_after_hours_so_the_backup_takes_it() -> None:
    busy = RosterState(loads={"rep-li": RepLoad(open=5), "rep-wu": RepLoad(open=5)})
    policy = make_policy(after_hours="hold", capacity={"open": 5})
    decision = route(policy, MONDAY_9AM + timedelta(hours=2), busy)
    # rep-wu has no cap: it takes the lead; capped rep-li alone would go to the backup.
    assert decision.owner == "rep-wu"
    only_li = make_policy(after_hours="hold", with_wu=False, capacity={"open": 5})
    assert route(only_li, MONDAY_9AM + timedelta(hours=2), busy).via == "backup"


def test_a_holiday_holds_until_the_first_working_morning() -> None:
    # Dragon Boat Festival 2026 is Friday 19 June (a day off in China): Thursday evening waits for
    # Monday on business hours; a rep's own shift (rep-wu's, Friday 10:00) knows no holidays.
    thursday_evening = datetime(2026, 6, 18, 19, 0, tzinfo=SHANGHAI)
    decision = route(make_policy(after_hours="hold", with_wu=False), thursday_evening)
    assert decision.held_until == datetime(2026, 6, 22, 9, 0, tzinfo=SHANGHAI).astimezone(UTC)
    both = route(make_policy(after_hours="hold"), thursday_evening)
    assert both.held_until == datetime(2026, 6, 19, 10, 0, tzinfo=SHANGHAI).astimezone(UTC)


def test_a_rep_on_their_own_shift_can_be_the_first_to_come_on() -> None:
    # Business hours open at 09:00 for rep-li; rep-wu's own shift starts at 10:00; rep-li out on Monday.
    policy = make_policy(after_hours="hold", out_of_office=[{"start": "2026-06-08", "end": "2026-06-08"}])
    decision = route(policy, FRIDAY_8PM)
    assert decision.held_until == datetime(2026, 6, 8, 10, 0, tzinfo=SHANGHAI).astimezone(UTC)
    assert decision.arithmetic["first_on_shift"] == "rep-wu"


def test_nobody_coming_on_shift_falls_back_to_the_backup() -> None:
    assert route(make_policy(after_hours="hold", with_wu=False, paused=True), FRIDAY_8PM).via == "backup"


def test_after_hours_takes_only_hold_backup_or_pool() -> None:
    with pytest.raises(PolicyError) as error:
        make_policy(after_hours="later")
    assert any(problem.startswith("after_hours:") for problem in error.value.problems)


def test_next_shift_start_reads_a_week_table_and_the_business_calendar() -> None:
    policy = make_policy()
    li, wu = policy.rep("rep-li"), policy.rep("rep-wu")
    assert next_shift_start(profile_of(li, policy), FRIDAY_8PM) == MONDAY_9AM
    assert next_shift_start(profile_of(wu, policy), FRIDAY_8PM) == MONDAY_9AM + timedelta(hours=1)
    on_shift = MONDAY_9AM + timedelta(hours=3)
    assert next_shift_start(profile_of(wu, policy), on_shift) == on_shift


def test_the_managers_message_about_a_held_lead_says_when_in_their_language_and_zone() -> None:
    from leadrelay.services.notifier.messages import Handover, LeadCard, Reader, lead_message

    lead = LeadCard(lead_id="lead-1", contact={"name": "Wang Fang", "company": "Big Factory"}, source="web",
                    grade="hot")
    held = Handover(role="watcher", at=FRIDAY_8PM, held_until=MONDAY_9AM.astimezone(UTC))
    english = lead_message("held", lead, Reader("mgr-cn", "en", "Asia/Shanghai"), "http://lr.test", held)
    assert english.title == "Held for the next shift (hot): Wang Fang (Big Factory)"
    assert "routed at Mon 09:00 (Asia/Shanghai)" in english.text
    chinese = lead_message("held", lead, Reader("mgr-cn", "zh", "Europe/Berlin"), "http://lr.test", held)
    assert chinese.title == "线索暂缓至下一班（热）：Wang Fang（Big Factory）"
    assert "将于 周一 03:00（Europe/Berlin）自动分配" in chinese.text  # 09:00 Shanghai is 03:00 in Berlin (CEST)
    later = Handover(role="watcher", at=FRIDAY_8PM, held_until=(MONDAY_9AM + timedelta(days=7)).astimezone(UTC))
    a_week_on = lead_message("held", lead, Reader("m", "en", "Asia/Shanghai"), "http://lr.test", later)
    assert "routed at 2026-06-15 Mon 09:00 (Asia/Shanghai)" in a_week_on.text


def test_a_hand_back_reads_its_reason_in_the_managers_words() -> None:
    from leadrelay.services.notifier.messages import not_mine_note

    assert not_mine_note("en", "wrong_territory: They are in Beijing").splitlines() == [
        "Why: wrong territory: They are in Beijing.",
        "It is back in the team pool: reassign it, or a rep of the team may claim it."]
    assert not_mine_note("zh", "existing_customer").splitlines()[0] == "原因：已是客户。"
    assert not_mine_note("en", "they are a supplier").splitlines()[0] == "Why: they are a supplier."
