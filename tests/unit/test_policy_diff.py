"""What changes between two policies, in sentences."""

import copy
from pathlib import Path
from typing import Any

import yaml

from leadrelay.shared.lab.diff import diff_policies
from leadrelay.shared.policy import Policy, load_policy, policy_from_dict

EXAMPLE_TEXT = (Path(__file__).resolve().parents[2] / "shared" / "example_policy.yaml").read_text()
EXAMPLE = load_policy(EXAMPLE_TEXT)


def document() -> dict[str, Any]:
    return copy.deepcopy(EXAMPLE.model_dump(mode="json"))


def changed(edit: Any) -> list[str]:
    data = document()
    edit(data)
    return diff_policies(EXAMPLE, policy_from_dict(data))


def rep(data: dict[str, Any], rep_id: str) -> dict[str, Any]:
    return next(item for item in data["reps"] if item["id"] == rep_id)


def rule(data: dict[str, Any], name: str) -> dict[str, Any]:
    return next(item for item in data["rules"] if item["name"] == name)


def test_a_policy_compared_with_itself_has_no_changes() -> None:
    assert diff_policies(EXAMPLE, load_policy(EXAMPLE_TEXT)) == []


def test_reps_added_and_removed_are_named_with_their_team() -> None:
    def edit(data: dict[str, Any]) -> None:
        data["reps"].append({"id": "rep-new", "team": "smb", "territories": ["japan"], "seniority": "junior"})
        data["reps"] = [item for item in data["reps"] if item["id"] != "rep-wang"]
        rep(data, "rep-chen")["backup"] = "rep-ana"

    lines = changed(edit)
    assert "Rep rep-new added (team smb, junior, territories japan)." in lines
    assert "Rep rep-wang removed (was team smb, junior, territories cn-south, cn-north)." in lines
    assert "Rep rep-chen: backup changes from rep-wang to rep-ana." in lines


def test_rep_fields_say_what_they_gain_lose_and_change_to() -> None:
    def edit(data: dict[str, Any]) -> None:
        li = rep(data, "rep-li")
        li["territories"] = ["cn-east", "cn-south"]
        li["capacity"]["open"] = 50
        li["team"] = "smb"
        li["working_hours"] = {"days": ["mon-fri"], "start": "10:00", "end": "19:00"}

    lines = changed(edit)
    assert "Rep rep-li: territories gains cn-south; loses cn-north." in lines
    assert "Rep rep-li: capacity.open changes from 40 to 50." in lines
    assert "Rep rep-li: team changes from enterprise to smb." in lines
    assert any(line.startswith("Rep rep-li: working_hours changes from none to ") for line in lines)


def test_secrets_and_webhooks_are_said_to_change_but_never_shown() -> None:
    def edit(data: dict[str, Any]) -> None:
        rep(data, "rep-li")["chat"] = {"platform": "slack", "webhook": "https://hooks.example/T/B/new", "secret": "s3"}

    lines = changed(edit)
    assert "Rep rep-li: chat.webhook changes." in lines
    assert "Rep rep-li: chat.secret changes." in lines
    assert not any("hooks.example" in line or "s3" in line for line in lines)


def test_rules_added_removed_reordered_and_changed() -> None:
    def edit(data: dict[str, Any]) -> None:
        rules = data["rules"]
        names = [item["name"] for item in rules]
        hot, territory = names.index("hot-enterprise"), names.index("by-territory")
        rules[hot], rules[territory] = rules[territory], rules[hot]
        rules.insert(1, {"name": "vip", "when": {"attributes.vip": True}, "strategy": "least_loaded",
                         "pool": {"team": "enterprise"}})
        rule(data, "catch-all")["strategy"] = "least_loaded"
        rule(data, "returning-person")["when"] = {"known_owner": True, "source": "web"}
        rule(data, "hot-enterprise")["pool"] = {"team": "enterprise", "seniority": ["principal"]}
        data["rules"] = [item for item in data["rules"] if item["name"] != "named-account"]

    lines = changed(edit)
    assert "Routing rule vip added at position 2: when {attributes.vip: true}, least_loaded from team enterprise." in lines
    assert ("Routing rule named-account removed (was at position 2: when {email: {free_domain: false}}, owner)."
            in lines)
    assert ("Routing rules are tried in a new order: returning-person, by-territory, enterprise-by-territory, "
            "hot-enterprise, catch-all (was returning-person, hot-enterprise, enterprise-by-territory, by-territory, "
            "catch-all).") in lines
    assert "Routing rule catch-all: strategy changes from round_robin to least_loaded." in lines
    assert ("Routing rule returning-person: applies when {known_owner: true, source: web} instead of "
            "{known_owner: true}.") in lines
    assert ("Routing rule hot-enterprise: picks from team enterprise; seniority principal instead of "
            "team enterprise; seniority senior, principal.") in lines


def test_scoring_grades_sla_and_fallback_changes_read_as_the_file_writes_them() -> None:
    def edit(data: dict[str, Any]) -> None:
        data["scoring"]["rules"][0]["points"] = 40
        data["scoring"]["rules"].append({"name": "webinar", "when": {"source": "webinar"}, "points": 5})
        data["scoring"]["grades"]["hot"] = 70
        data["sla"]["first_touch"]["hot"] = "10m"
        data["sla"]["ladder"]["reassign"] = None
        data["fallback"] = {"queue": "triage", "notify": ["mgr-zhou"]}
        data["business_hours"]["end"] = "19:00"
        data["timezone"] = "Asia/Tokyo"

    lines = changed(edit)
    assert lines[:7] == [
        "Time zone changes from Asia/Shanghai to Asia/Tokyo.",
        "Business hours: end changes from 18:00 to 19:00.",
        "SLA: first_touch.hot changes from 15m to 10m.",
        "SLA: ladder.reassign changes from 150% to none.",
        "Fallback: queue changes from unassigned to triage.",
        "Fallback: notify gains mgr-zhou; loses mgr-lin.",
        "Scoring rule webinar added: +5 points when {source: webinar}.",
    ]
    assert "Scoring rule referral: points change from +30 points to +40 points." in lines
    assert "A lead is hot from a score of 70 (was 60)." in lines


def test_teams_territories_and_named_accounts() -> None:
    def edit(data: dict[str, Any]) -> None:
        data["teams"].append({"name": "partners", "manager": "mgr-lin"})
        data["territories"]["cn-east"]["regions"].append("Jiangxi")
        data["accounts"]["acme-example.com"] = "rep-chen"
        data["accounts"]["haier-example.com"] = "rep-chen"
        del data["accounts"]["toyota-example.co.jp"]

    lines = changed(edit)
    assert "Team partners added (manager mgr-lin)." in lines
    assert "Territory cn-east: regions gains Jiangxi." in lines
    assert "Named account acme-example.com added, owned by rep-chen." in lines
    assert "Named account haier-example.com moves from rep-li to rep-chen." in lines
    assert "Named account toyota-example.co.jp removed (was owned by rep-tanaka)." in lines


def test_sections_the_diff_has_no_words_for_are_still_compared_field_by_field() -> None:
    old = policy_from_dict(yaml.safe_load("""
teams: [{name: sales, manager: m}]
reps: [{id: rep-a, team: sales}]
rules: [{name: all}]
"""))
    data = old.model_dump(mode="json")
    data["version"] = 1
    data["business_hours"]["extra_holidays"] = ["2026-12-24"]
    new: Policy = policy_from_dict(data)
    assert diff_policies(old, new) == ["Business hours: extra_holidays changes from [] to [2026-12-24]."]
