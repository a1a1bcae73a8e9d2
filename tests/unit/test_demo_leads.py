"""Synthetic leads: each one is a lead intake accepts, and together they look like real traffic."""

from collections import Counter
from datetime import datetime
from statistics import median

import pytest

from leadrelay.services.intake.validation import parse_lead, to_contact
from leadrelay.shared.identity import is_free_email_domain
from leadrelay.shared.lab.demo_leads import generate_leads

LEADS = list(generate_leads(3000, seed=7))


def test_every_generated_lead_passes_intake_validation() -> None:
    for lead in LEADS:
        body = {key: value for key, value in lead.items() if key not in ("source", "received_at")}
        contact = to_contact(parse_lead(body))
        assert contact.email or contact.phone


def test_the_same_seed_gives_the_same_leads_and_another_seed_others() -> None:
    assert list(generate_leads(200, seed=1)) == list(generate_leads(200, seed=1))
    assert list(generate_leads(200, seed=1)) != list(generate_leads(200, seed=2))


def test_leads_arrive_in_order_with_their_source() -> None:
    instants = [datetime.fromisoformat(lead["received_at"]) for lead in LEADS]
    assert all(moment.tzinfo is not None for moment in instants)
    assert instants == sorted(instants)
    assert {lead["source"] for lead in LEADS} >= {"web", "google-ads", "meta-lead-ads", "referral", "trade-show"}


def test_china_leads_most_and_the_other_markets_are_all_there() -> None:
    countries = Counter(lead["country"] for lead in LEADS)
    assert countries.most_common(1)[0][0] == "CN"
    assert 0.45 < countries["CN"] / len(LEADS) < 0.75
    assert {"US", "JP", "DE", "GB", "SG"} <= set(countries)


def test_names_titles_and_mail_domains_are_mixed_like_real_forms() -> None:
    names = [lead.get("name", "") for lead in LEADS]
    assert any(any("\u4e00" <= char <= "\u9fff" for char in name) for name in names)  # Chinese characters
    assert any(name.isascii() and " " in name for name in names)
    titles = Counter(lead.get("title") for lead in LEADS)
    assert {"CEO", "总经理", "Engineer"} & set(titles)
    assert titles["工程师"] + titles["Engineer"] + titles["Software Engineer"] > titles["CEO"] + titles["总经理"]
    emails = [lead["email"] for lead in LEADS if "email" in lead]
    free = sum(is_free_email_domain(email.rpartition("@")[2]) for email in emails)
    assert 0.15 < free / len(emails) < 0.45


def test_company_sizes_are_long_tailed() -> None:
    sizes = [lead["employees"] for lead in LEADS if "employees" in lead]
    assert 20 < median(sizes) < 150
    assert 0.04 < sum(size >= 500 for size in sizes) / len(sizes) < 0.2
    assert max(sizes) > 5000


def test_about_one_lead_in_twenty_is_a_returning_person() -> None:
    emails = Counter(lead["email"] for lead in LEADS if "email" in lead)
    repeats = sum(count - 1 for count in emails.values())
    assert 0.03 < repeats / len(LEADS) < 0.08


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError):
        list(generate_leads(-1))
    with pytest.raises(ValueError):
        list(generate_leads(5, per_day=0))
    assert list(generate_leads(0)) == []
