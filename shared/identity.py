"""Contact normalisation and identity keys: who a lead is, without saying who they are.

Guarantees:
- ``normalise_email`` and ``normalise_phone`` are idempotent: a normalised value normalises to
  itself, so a value may be normalised again anywhere downstream without changing its key.
- An identity key is a function of normalised values and a salt only, and never contains raw PII:
  keys travel as Kafka message keys and appear in logs, so they carry an HMAC, not the address.
- Everything here is pure: no network (email deliverability is not checked), no clock, no state.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from phonenumbers import NumberParseException, PhoneNumberFormat

__all__ = [
    "InvalidContact",
    "country_code",
    "email_domain",
    "hashed",
    "identity_key",
    "identity_keys",
    "is_free_email_domain",
    "normalise_email",
    "normalise_phone",
]

# 32 hex digits = 128 bits of the HMAC: collisions stay out of reach for any realistic number of
# people, while Kafka keys and log lines stay short.
KEY_HEX_LENGTH = 32

# Gmail ignores dots and treats googlemail.com as gmail.com, so "J.Doe@googlemail.com" and
# "jdoe@gmail.com" are one inbox; without this the same person becomes two people and two reps.
_GMAIL_DOMAINS = frozenset({"gmail.com", "googlemail.com"})

_FREE_EMAIL_DOMAINS = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "aol.com",
        "msn.com",
        "qq.com",
        "foxmail.com",
        "163.com",
        "126.com",
        "yeah.net",
        "139.com",
        "sina.com",
        "sina.cn",
        "sohu.com",
        "aliyun.com",
        "proton.me",
        "protonmail.com",
        "pm.me",
        "mail.ru",
    }
)
# Providers with a domain per country (yahoo.co.jp, hotmail.co.uk, gmx.de, yandex.ru, …). The
# suffix must look like a public suffix (com, de, co.uk, com.cn), so that a company subdomain such
# as live.acme.com is not mistaken for Microsoft's live.com.
_FREE_EMAIL_FAMILY = re.compile(r"(?:yahoo|hotmail|outlook|live|gmx|yandex)\.(?:com?\.)?[a-z]{2,3}")

# ISO 3166-1 alpha-2 codes that phonenumbers has no metadata for (uninhabited territories), so
# that country_code() accepts every official code, not just the ones with a telephone plan.
_ISO_CODES_WITHOUT_PHONE_PLAN = frozenset({"AQ", "BV", "GS", "HM", "PN", "TF", "UM"})
_COUNTRY_CODES = frozenset(phonenumbers.SUPPORTED_REGIONS) | _ISO_CODES_WITHOUT_PHONE_PLAN

# The names forms actually send instead of a code. Deliberately short: an unknown name yields
# None (routing falls back to territory-less rules) rather than a guess.
_COUNTRY_NAMES = {
    "china": "CN",
    "prc": "CN",
    "peoples republic of china": "CN",
    "中国": "CN",
    "中华人民共和国": "CN",
    "中國": "CN",
    "hong kong": "HK",
    "香港": "HK",
    "taiwan": "TW",
    "台湾": "TW",
    "台灣": "TW",
    "macau": "MO",
    "macao": "MO",
    "澳门": "MO",
    "united states": "US",
    "united states of america": "US",
    "usa": "US",
    "america": "US",
    "美国": "US",
    "united kingdom": "GB",
    "uk": "GB",
    "great britain": "GB",
    "britain": "GB",
    "england": "GB",
    "英国": "GB",
    "japan": "JP",
    "日本": "JP",
    "south korea": "KR",
    "korea": "KR",
    "韩国": "KR",
    "singapore": "SG",
    "新加坡": "SG",
    "germany": "DE",
    "德国": "DE",
    "france": "FR",
    "法国": "FR",
    "india": "IN",
    "印度": "IN",
    "canada": "CA",
    "加拿大": "CA",
    "australia": "AU",
    "澳大利亚": "AU",
}

_PARSE_ERROR_REASONS = {
    NumberParseException.INVALID_COUNTRY_CODE: (
        "the phone number has no country: write it in international form (+86 …) or send the lead's country"
    ),
    NumberParseException.NOT_A_NUMBER: "this does not look like a phone number",
    NumberParseException.TOO_SHORT_AFTER_IDD: "the phone number is too short",
    NumberParseException.TOO_SHORT_NSN: "the phone number is too short",
    NumberParseException.TOO_LONG: "the phone number is too long",
}


class InvalidContact(ValueError):
    """A contact value that cannot identify anyone; ``field`` names it, ``reason`` is for people.

    A reason describes the problem, not the value: at most it quotes an offending character or
    domain label (e-mail reasons are email-validator's messages), never the whole address or number.
    """

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def normalise_email(raw: str) -> str:
    """Returns the canonical form of an address: the inbox it reaches, lower-cased.

    Drops a ``+tag`` (sub-addressing), and for Gmail also the dots, mapping googlemail.com to
    gmail.com. Raises InvalidContact('email', …) for an address that is not syntactically valid;
    deliverability (DNS) is not checked, because this must stay pure and fast.
    """
    try:
        checked = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError as error:
        raise InvalidContact("email", str(error)) from None
    domain = checked.domain.lower()
    # NFC again after lower(): the validator NFCs its input, so our output must already be NFC
    # for a second pass to return it unchanged (the idempotence callers rely on).
    local = unicodedata.normalize("NFC", checked.local_part.lower())
    untagged = local.split("+", 1)[0]
    # "+tag@x.com" or "a.+tag@x.com" would lose everything or end in a dot: not an address.
    # Keep such a local part whole rather than invent an inbox.
    if not untagged or untagged.endswith("."):
        untagged = local
    if checked.ascii_domain.lower() in _GMAIL_DOMAINS:
        domain = "gmail.com"
        untagged = untagged.replace(".", "") or untagged
    return f"{untagged}@{domain}"


def normalise_phone(raw: str, default_region: str | None) -> str:
    """Returns the number in E.164 (``+8613800138000``); any extension is dropped.

    ``default_region`` is the lead's ISO 3166 alpha-2 country (any case), used for numbers written
    without a ``+``; None, or a code phonenumbers does not know, requires the international form.
    Raises InvalidContact('phone', …) for text that is not a valid number in its country's plan.
    """
    region = default_region.strip().upper() if default_region else None
    if region not in phonenumbers.SUPPORTED_REGIONS:
        region = None
    try:
        number = phonenumbers.parse(raw, region)
    except NumberParseException as error:
        reason = _PARSE_ERROR_REASONS.get(error.error_type, "this does not look like a phone number")
        raise InvalidContact("phone", reason) from None
    if not phonenumbers.is_possible_number(number):
        raise InvalidContact("phone", "the phone number has the wrong length for its country")
    if not phonenumbers.is_valid_number(number):
        raise InvalidContact("phone", "the phone number is not in use in its country's numbering plan")
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def country_code(raw: str | None) -> str | None:
    """Returns the ISO 3166 alpha-2 code for a code (any case) or a common name; None if unknown.

    Never raises: the country is a routing hint, and a lead is worth keeping without one.
    """
    if raw is None:
        return None
    text = " ".join(raw.replace(".", "").replace("'", "").split())
    if text.upper() in _COUNTRY_CODES:
        return text.upper()
    return _COUNTRY_NAMES.get(text.casefold())


def hashed(value: str, salt: str) -> str:
    """Returns hex HMAC-SHA256 of ``value`` keyed by ``salt``; raises ValueError for an empty salt.

    Keyed, not a bare hash: the space of e-mail addresses and phone numbers is small enough to
    enumerate, so an unsalted digest in a Kafka key would be as good as the address itself.
    """
    if not salt:
        raise ValueError("the identity salt must not be empty")
    return hmac.new(salt.encode(), value.encode(), hashlib.sha256).hexdigest()


def identity_keys(
    email_norm: str | None,
    phone_e164: str | None,
    source: str,
    external_id: str | None,
    salt: str,
) -> tuple[str, ...]:
    """Returns every key of a lead, strongest first: ``e:`` email, ``p:`` phone, ``x:`` external id.

    Expects normalised email and phone. Raises InvalidContact('contact', …) when the lead has none.
    """
    keys: list[str] = []
    if email_norm:
        keys.append("e:" + hashed(email_norm, salt)[:KEY_HEX_LENGTH])
    if phone_e164:
        keys.append("p:" + hashed(phone_e164, salt)[:KEY_HEX_LENGTH])
    if external_id:
        # External ids are only unique within their source, hence the source in the key. The NUL
        # separates the two unambiguously as long as source names never contain one (they are
        # slugs chosen by `leadrelay sources add`).
        keys.append("x:" + hashed(f"{source}\x00{external_id}", salt)[:KEY_HEX_LENGTH])
    if not keys:
        raise InvalidContact("contact", "a lead needs an email, a phone, or an external_id")
    return tuple(keys)


def identity_key(
    email_norm: str | None,
    phone_e164: str | None,
    source: str,
    external_id: str | None,
    salt: str,
) -> str:
    """Returns the lead's partition key: the strongest of :func:`identity_keys`.

    Raises InvalidContact('contact', …) when the lead has no email, phone or external id.
    """
    return identity_keys(email_norm, phone_e164, source, external_id, salt)[0]


def email_domain(email_norm: str) -> str:
    """Returns the part after the last ``@``; raises ValueError for text without one."""
    _, at, domain = email_norm.rpartition("@")
    if not at or not domain:
        raise ValueError("not an email address")
    return domain.lower()


def is_free_email_domain(domain: str) -> bool:
    """Returns True for consumer mailbox providers (gmail.com, qq.com, yahoo.*, …).

    A free address says nothing about the employer, which scoring treats as a weaker lead.
    """
    domain = domain.strip().rstrip(".").lower()
    return domain in _FREE_EMAIL_DOMAINS or _FREE_EMAIL_FAMILY.fullmatch(domain) is not None
