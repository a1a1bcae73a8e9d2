"""The policy's CRM mapping (``reps[].crm`` and the ``crm`` section): who each rep is in HubSpot and
Salesforce, validated where it is written."""

from __future__ import annotations

from pathlib import Path

import pytest

from leadrelay.shared.policy import PolicyError, load_policy

FIXTURE = (Path(__file__).resolve().parents[1] / "fixtures" / "policy.yaml").read_text()


def with_crm(rep_a: str = "", section: str = "") -> str:
    text = FIXTURE.replace("  - id: rep-a\n", f"  - id: rep-a\n{rep_a}", 1) if rep_a else FIXTURE
    return text + section


def test_the_section_map_wins_over_a_reps_own_ids_and_unquoted_digits_are_an_id():
    policy = load_policy(with_crm(
        "    crm: {hubspot_owner_id: 41629779, salesforce_owner_id: 005000000000001AAA}\n",
        "crm:\n  hubspot: {owners: {rep-a: \"111\", rep-b: \"222\"}}\n"))
    assert policy.crm_owners("hubspot") == {"rep-a": "111", "rep-b": "222"}
    assert policy.crm_owners("salesforce") == {"rep-a": "005000000000001AAA"}
    assert policy.crm_owners("odoo") == {}
    assert load_policy(policy.model_dump_json()).crm_owners("hubspot") == policy.crm_owners("hubspot")


def test_a_policy_without_crm_maps_nobody():
    assert load_policy(FIXTURE).crm_owners("hubspot") == {} == load_policy(FIXTURE).crm_owners("salesforce")


@pytest.mark.parametrize(("rep_a", "section", "problem"), [
    ("    crm: {hubspot_owner_id: \"owner-1\"}\n", "", "reps[0].crm.hubspot_owner_id: string should match"),
    ("    crm: {salesforce_owner_id: 00Q000000000001AAA}\n", "", "reps[0].crm.salesforce_owner_id: string should match"),
    ("", "crm:\n  salesforce: {owners: {rep-a: \"0050000001\"}}\n", "crm.salesforce.owners.rep-a: string should match"),
    ("", "crm:\n  hubspot: {owners: {rep-zz: \"1\"}}\n", "crm.hubspot.owners.rep-zz: unknown rep 'rep-zz'"),
    ("", "crm:\n  pipedrive: {owners: {}}\n", "crm.pipedrive: unknown field"),
    ("    crm: {hubspot_owner_id: \"1\", token: \"secret\"}\n", "", "reps[0].crm.token: unknown field"),
])
def test_a_wrong_id_or_an_unknown_rep_is_named_where_it_is_written(rep_a: str, section: str, problem: str):
    with pytest.raises(PolicyError) as refused:
        load_policy(with_crm(rep_a, section))
    assert any(line.startswith(problem) for line in refused.value.problems), refused.value.problems
