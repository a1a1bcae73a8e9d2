"""Contact normalisation and identity keys (shared.identity): pure, so no fixtures."""

from __future__ import annotations

import re

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st

from leadrelay.shared.identity import (
    InvalidContact,
    country_code,
    email_domain,
    hashed,
    identity_key,
    identity_keys,
    is_free_email_domain,
    normalise_email,
    normalise_phone,
)

SALT = "test-salt"

_atom = st.text(alphabet="abcXYZ019_-éßİ", min_size=1, max_size=8)
emails = st.builds(
    lambda atoms, tag, domain: ".".join(atoms) + (f"+{tag}" if tag else "") + "@" + domain,
    st.lists(_atom, min_size=1, max_size=3),
    st.none() | _atom,
    st.sampled_from(["gmail.com", "GoogleMail.com", "Example.COM", "qq.com", "bücher.de"]),
)
example_numbers = (
    st.sampled_from(sorted(phonenumbers.SUPPORTED_REGIONS))
    .map(lambda region: (region, phonenumbers.example_number(region)))
    .filter(lambda pair: pair[1] is not None)
)


# --- email ---------------------------------------------------------------------------------


def test_gmail_addresses_lose_dots_and_tags_and_googlemail_becomes_gmail() -> None:
    assert normalise_email("J.Doe+newsletter@GoogleMail.com") == "jdoe@gmail.com"
    assert normalise_email("jdoe@gmail.com") == "jdoe@gmail.com"


def test_other_providers_lose_the_tag_but_keep_the_dots() -> None:
    assert normalise_email("  Li.Wei+expo2025@Example.COM ") == "li.wei@example.com"


def test_a_local_part_that_is_only_a_tag_is_kept_whole() -> None:
    assert normalise_email("+sales@example.com") == "+sales@example.com"
    assert normalise_email("a.+x@example.com") == "a.+x@example.com"


def test_an_internationalised_domain_normalises_the_same_in_either_spelling() -> None:
    assert normalise_email("x@BÜCHER.de") == normalise_email("x@xn--bcher-kva.de") == "x@bücher.de"


@pytest.mark.parametrize("raw", ["", "no-at-sign", "a@b", "a b@example.com", "a@@example.com", "a@x.test"])
def test_an_invalid_address_is_rejected_with_a_readable_reason(raw: str) -> None:
    with pytest.raises(InvalidContact) as caught:
        normalise_email(raw)
    assert caught.value.field == "email"
    assert caught.value.reason
    assert isinstance(caught.value, ValueError)


@given(emails)
def test_normalise_email_is_idempotent(raw: str) -> None:
    once = normalise_email(raw)
    assert normalise_email(once) == once


@given(st.emails())
def test_any_address_either_normalises_idempotently_or_is_rejected_as_an_email(raw: str) -> None:
    try:
        once = normalise_email(raw)
    except InvalidContact as error:
        assert error.field == "email"
    else:
        assert normalise_email(once) == once


# --- phone ---------------------------------------------------------------------------------


def test_a_national_number_becomes_e164_using_the_leads_country() -> None:
    assert normalise_phone("138 0013 8000", "CN") == "+8613800138000"
    assert normalise_phone("(650) 253-0000", "us") == "+16502530000"


def test_an_international_number_needs_no_country() -> None:
    assert normalise_phone("+86 138-0013-8000", None) == "+8613800138000"
    assert normalise_phone("0086 13800138000", "CN") == "+8613800138000"


def test_full_width_digits_and_extensions_are_understood() -> None:
    assert normalise_phone("１３８００１３８０００", "CN") == "+8613800138000"  # noqa: RUF001
    assert normalise_phone("+1 650 253 0000 ext. 12", None) == "+16502530000"


@pytest.mark.parametrize("region", [None, "", "XX", "China"])
def test_a_national_number_without_a_known_country_is_rejected(region: str | None) -> None:
    with pytest.raises(InvalidContact) as caught:
        normalise_phone("650 253 0000", region)
    assert caught.value.field == "phone"
    assert "international" in caught.value.reason


@pytest.mark.parametrize(
    ("raw", "region"),
    [("12", "CN"), ("555-0100", "US"), ("hello", "US"), ("+86 999 0000 0000", None), ("1" * 40, "US")],
)
def test_a_number_that_is_not_possible_or_valid_is_rejected(raw: str, region: str) -> None:
    with pytest.raises(InvalidContact) as caught:
        normalise_phone(raw, region)
    assert caught.value.field == "phone"
    assert raw not in caught.value.reason


@given(example_numbers)
def test_normalise_phone_is_idempotent_and_needs_no_region_the_second_time(pair: tuple) -> None:
    region, number = pair
    national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    once = normalise_phone(national, region)
    assert re.fullmatch(r"\+[1-9]\d{1,14}", once)
    assert normalise_phone(once, None) == once


# --- country -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("CN", "CN"),
        ("cn", "CN"),
        (" us ", "US"),
        ("AQ", "AQ"),
        ("China", "CN"),
        ("中国", "CN"),
        ("United States", "US"),
        ("USA", "US"),
        ("U.S.A.", "US"),
        ("united  kingdom", "GB"),
        ("UK", "GB"),
        ("People's Republic of China", "CN"),
    ],
)
def test_country_codes_and_common_names_become_alpha_2(raw: str, code: str) -> None:
    assert country_code(raw) == code


@pytest.mark.parametrize("raw", [None, "", "Atlantis", "ZZ", "EU", "C"])
def test_an_unknown_country_is_none_rather_than_an_error(raw: str | None) -> None:
    assert country_code(raw) is None


# --- identity keys -------------------------------------------------------------------------


def test_the_identity_key_prefers_email_then_phone_then_external_id() -> None:
    email, phone = "li.wei@example.com", "+8613800138000"
    assert identity_key(email, phone, "web", "42", SALT) == "e:" + hashed(email, SALT)[:32]
    assert identity_key(None, phone, "web", "42", SALT) == "p:" + hashed(phone, SALT)[:32]
    assert identity_key(None, None, "web", "42", SALT) == "x:" + hashed("web\x0042", SALT)[:32]


def test_identity_keys_lists_every_key_and_starts_with_the_identity_key() -> None:
    keys = identity_keys("a@example.com", "+8613800138000", "meta", "lead-1", SALT)
    assert [key[:2] for key in keys] == ["e:", "p:", "x:"]
    assert keys[0] == identity_key("a@example.com", "+8613800138000", "meta", "lead-1", SALT)


@pytest.mark.parametrize("empty", [None, ""])
def test_a_lead_without_email_phone_or_external_id_has_no_key(empty: str | None) -> None:
    with pytest.raises(InvalidContact) as caught:
        identity_key(empty, empty, "web", empty, SALT)
    assert caught.value.field == "contact"
    assert caught.value.reason == "a lead needs an email, a phone, or an external_id"


def test_the_same_external_id_from_two_sources_is_two_people() -> None:
    assert identity_key(None, None, "meta", "42", SALT) != identity_key(None, None, "google-ads", "42", SALT)


def test_keys_depend_on_the_salt_and_an_empty_salt_is_refused() -> None:
    assert identity_key("a@example.com", None, "web", None, "one") != identity_key(
        "a@example.com", None, "web", None, "two"
    )
    with pytest.raises(ValueError, match="salt"):
        hashed("a@example.com", "")


@given(emails, st.text(min_size=1, max_size=20))
def test_an_identity_key_never_contains_the_raw_email(raw: str, salt: str) -> None:
    email = normalise_email(raw)
    key = identity_key(email, None, "web", None, salt)
    assert re.fullmatch(r"e:[0-9a-f]{32}", key)
    assert email not in key


@given(example_numbers, st.text(min_size=1, max_size=20))
def test_an_identity_key_never_contains_the_phone_digits(pair: tuple, salt: str) -> None:
    _, number = pair
    phone = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    key = identity_key(None, phone, "web", None, salt)
    assert re.fullmatch(r"p:[0-9a-f]{32}", key)
    assert phone[1:] not in key


# --- domains -------------------------------------------------------------------------------


def test_email_domain_is_the_part_after_the_at_sign() -> None:
    assert email_domain("li.wei@example.com") == "example.com"
    with pytest.raises(ValueError):
        email_domain("no-at-sign")


@pytest.mark.parametrize(
    "domain",
    [
        "gmail.com",
        "qq.com",
        "163.com",
        "yahoo.co.jp",
        "yahoo.com",
        "hotmail.co.uk",
        "outlook.com",
        "GMX.de",
        "yandex.ru",
        "proton.me",
        "mail.ru",
        "foxmail.com",
        "aliyun.com",
    ],
)
def test_consumer_mailbox_domains_are_free(domain: str) -> None:
    assert is_free_email_domain(domain)


@pytest.mark.parametrize(
    "domain", ["example.com", "acme.cn", "live.acme.com", "yahoo-inc.com", "mail.acme.ru"]
)
def test_company_domains_are_not_free(domain: str) -> None:
    assert not is_free_email_domain(domain)
