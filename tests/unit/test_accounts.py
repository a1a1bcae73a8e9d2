"""Lead → named account: by email domain (never free mail), website, or company name without its
legal form; the account's owner is a routing fact, and the owner rule says which evidence found it."""

from datetime import UTC, datetime
from typing import Any

import pytest

from leadrelay.services.router.routing import RosterState, RoutingLead, decide_route
from leadrelay.shared.companies import company_similarity, normalised_company
from leadrelay.shared.lab.diff import diff_policies
from leadrelay.shared.policy import NAME_MATCH_AT, Policy, PolicyError, load_policy, policy_from_dict

NOW = datetime(2026, 6, 3, 2, 0, tzinfo=UTC)
ALWAYS = {"days": ["mon-sun"], "start": "00:00", "end": "24:00"}
BIG_FACTORY = {"owner": "rep-li", "domains": ["bigfactory.cn", "https://www.BigFactory.com/"],
               "names": ["大工厂", "BF Industrial Group"]}


def policy(accounts: dict[str, Any], rules: list[dict[str, Any]] | None = None) -> Policy:
    return policy_from_dict({
        "teams": [{"name": "sales", "manager": "mgr"}],
        "reps": [{"id": rep, "team": "sales", "working_hours": ALWAYS} for rep in ("rep-li", "rep-a", "rep-z")],
        "accounts": accounts,
        "rules": rules or [{"name": "named-account", "strategy": "owner"}, {"name": "rest", "pool": {"reps": ["rep-z"]}}],
    })


def route(p: Policy, **facts: Any):
    return decide_route(RoutingLead("lead-1", facts), p, RosterState(), NOW)


MIXED = {"acme.com": "rep-a", "Big Factory": BIG_FACTORY}


def test_both_forms_load_and_dump_back_as_written() -> None:
    p = policy(MIXED)
    assert p.accounts["Big Factory"].domains == ("bigfactory.cn", "bigfactory.com")
    assert p.account_domains == {"acme.com": "rep-a", "bigfactory.cn": "rep-li", "bigfactory.com": "rep-li"}
    dumped = p.model_dump(mode="json")["accounts"]
    assert dumped["acme.com"] == "rep-a"
    assert dumped["Big Factory"]["owner"] == "rep-li"
    assert policy(dumped) == p


@pytest.mark.parametrize(("facts", "owner", "because"), [
    ({"email_domain": "bigfactory.cn"}, "rep-li", "account Big Factory matched by email domain bigfactory.cn"),
    ({"email": "li@sales.BigFactory.com"}, "rep-li", "account Big Factory matched by email domain bigfactory.com"),
    ({"email_domain": "gmail.com", "website": "https://bigfactory.cn/about"}, "rep-li",
     "account Big Factory matched by website bigfactory.cn"),
    ({"email_domain": "qq.com", "company": "Big Factory Co., Ltd."}, "rep-li",
     "account Big Factory matched by company name Big Factory Co., Ltd."),
    ({"company": "大工厂有限公司"}, "rep-li", "account Big Factory matched by company name 大工厂有限公司"),
    ({"company": "Big Factroy"}, "rep-li", "account Big Factory matched by company name Big Factroy (0.90)"),
    ({"email_domain": "acme.com"}, "rep-a", "account acme.com"),
])
def test_a_lead_is_matched_to_its_account_and_the_explanation_says_by_what(facts, owner, because) -> None:
    decision = route(policy(MIXED), **facts)
    assert (decision.owner, decision.rule) == (owner, "named-account")
    assert decision.summary == f"{owner} is the owner of the {because}"


@pytest.mark.parametrize("facts", [
    {"email_domain": "gmail.com", "company": "Someone Else Ltd"},  # free mail is nobody's account
    {"company": "Acme Plastics"},  # a name of the short-form account is a domain, not a company
    {"company": "Big Fabric Trading"},  # alike in one word: a different firm
    {"company": "BF"},  # too little to tell
    {"email_domain": "notbigfactory.cn"},  # a domain is matched whole, or as a parent of a subdomain
])
def test_look_alikes_and_free_mail_are_no_account(facts) -> None:
    decision = route(policy(MIXED), **facts)
    assert decision.owner == "rep-z"
    assert decision.passed_over == ["named-account: no known owner and no named account"]


def test_free_mail_never_matches_even_when_an_account_lists_it() -> None:
    p = policy({"Webmail Inc": {"owner": "rep-a", "domains": ["gmail.com"]}})
    assert route(p, email_domain="gmail.com").owner == "rep-z"


def test_the_account_is_a_fact_routing_rules_may_test() -> None:
    p = policy(MIXED, rules=[
        {"name": "key-accounts", "when": {"account": "Big Factory"}, "pool": {"reps": ["rep-a"]}},
        {"name": "owned", "when": {"account_owner": True}, "strategy": "owner"},
        {"name": "rest", "pool": {"reps": ["rep-z"]}},
    ])
    key = route(p, company="BIG FACTORY GROUP LIMITED")
    assert (key.owner, key.rule) == ("rep-a", "key-accounts")
    assert key.matched_because.startswith("account")
    assert route(p, email_domain="acme.com").rule == "owned"
    assert route(p, company="Initech").rule == "rest"


def test_a_known_owner_comes_before_the_account() -> None:
    decision = route(policy(MIXED), known_owner="rep-a", email_domain="bigfactory.cn")
    assert decision.owner == "rep-a"


def test_evidence_claimed_by_two_accounts_or_an_unknown_owner_is_refused_with_its_path() -> None:
    with pytest.raises(PolicyError) as raised:
        policy({"Big Factory": BIG_FACTORY, "Other": {"owner": "rep-a", "domains": ["bigfactory.cn"]},
                "BIG FACTORY Ltd.": {"owner": "rep-a"}})
    text = str(raised.value)
    assert "accounts.Other.domains: bigfactory.cn is already account Big Factory's" in text
    assert "accounts.BIG FACTORY Ltd..names: 'BIG FACTORY Ltd.' is already account Big Factory's name" in text


def test_a_domain_must_be_a_domain_and_a_name_must_leave_something_to_compare() -> None:
    with pytest.raises(PolicyError) as raised:
        policy({"Bad": {"owner": "rep-a", "domains": ["not a domain"], "names": ["---"]}})
    text = str(raised.value)
    assert "accounts.Bad.domains: 'not a domain' is not a domain" in text
    assert "accounts.Bad.names: '---' has nothing left to compare" in text


def test_an_unknown_owner_is_named_by_its_path() -> None:
    with pytest.raises(PolicyError) as raised:
        policy({"Nobody's": {"owner": "rep-gone"}, "x.com": "rep-gone2"})
    text = str(raised.value)
    assert "accounts.Nobody's.owner: unknown rep 'rep-gone'" in text
    assert "accounts.x.com: unknown rep 'rep-gone2'" in text


def test_the_yaml_form_reads_as_documented() -> None:
    p = load_policy("""
teams: [{name: sales, manager: mgr}]
reps: [{id: rep-li, team: sales}, {id: rep-a, team: sales}]
accounts:
  acme.com: rep-a
  Big Factory:
    owner: rep-li
    domains: [bigfactory.cn]
    names: [大工厂]
rules: [{name: named-account, strategy: owner}]
""")
    assert p.account_owner("bigfactory.cn") == "rep-li"
    assert p.account_owner("www.acme.com") == "rep-a"
    assert p.account_index.match(None, None, "大工厂集团有限公司").owner == "rep-li"


def test_company_names_compare_without_legal_form() -> None:
    assert normalised_company("Big Factory Co., Ltd.") == normalised_company("BigFactory") == "bigfactory"
    assert company_similarity("bigfactory", "bigfactroy") >= NAME_MATCH_AT
    assert company_similarity("acme", "acmeplastics", contained_min_length=6) < NAME_MATCH_AT
    assert company_similarity("示例制造", "上海示例制造") == 0.95  # the dedup's looser containment


def test_a_diff_says_what_changed_in_accounts_and_protection() -> None:
    old = policy(MIXED)
    new = policy_from_dict({**old.model_dump(mode="json"), "accounts": {
        "acme.com": "rep-li", "Big Factory": {**BIG_FACTORY, "domains": ["bigfactory.cn"]},
        "Globex": {"owner": "rep-a", "domains": ["globex.cn"]}}, "protection": {"days": 30}})
    assert diff_policies(old, new) == [
        "Protection period changes from none to {days: 30, extend_per_activity_days: 0, max_days: null}.",
        "Named account acme.com moves from rep-a to rep-li.",
        "Named account Big Factory: domains loses bigfactory.com.",
        "Named account Globex added, owned by rep-a.",
    ]
