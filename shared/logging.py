"""Structured logs: one JSON line per event, identifiers only.

Code logs ids (lead_id, event_id, topic, offset), never payloads. The redaction filter is a
backstop for the mistake someone will make one day, not the plan.
"""

from __future__ import annotations

import logging
import re
import sys
from datetime import UTC, datetime

import orjson
import phonenumbers

# An address with a real domain: labels, then an alphabetic top-level domain (not `user@localhost`,
# not a DSN's `password@host:5432`).
_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@(?:[^\W_](?:[\w-]*[^\W_])?\.)+[^\W\d_]{2,}(?![\w-])")
# A phone candidate: an optional `+`, then digits with at most one separator (space, dash, dot,
# parenthesis) between them, not glued to ASCII letters/digits, `.`, `/`, `-` or `@` on either side
# (so not a piece of a uuid, hex id, IP address, path or version). CJK text may touch it.
_PHONE_CANDIDATE = re.compile(
    r"(?<![A-Za-z0-9_./@+-])\+?\(?\d(?:[ .()-]{0,2}\d){5,19}(?![A-Za-z0-9_/@]|[.-][A-Za-z0-9])")
_NOT_A_PHONE = (
    re.compile(r"\d{1,3}(?:\.\d{1,3}){3}"),  # an IPv4 address
    re.compile(r"\d+\.\d+"),  # a decimal (a duration, a ratio)
    re.compile(r"(?:\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{4})(?:\D.*)?"),  # a date
)
# Numbers written without a country code are read as these countries' national numbers.
_NATIONAL_REGIONS = ("CN", "US")
# Identifiers we log on purpose; redacting them would only make the logs useless.
_ID_FIELDS = frozenset({"lead_id", "event_id", "correlation_id", "key", "person_id", "topic", "consumer", "group",
                        "trace_id"})
# uvicorn's copy of the message with terminal colour codes: noise in a JSON line.
_DROPPED_FIELDS = frozenset({"color_message"})
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"} | _DROPPED_FIELDS


def is_phone_number(candidate: str) -> bool:
    """A plausible phone number: 7 to 15 digits (E.164) that phonenumbers accepts, in international
    form (``+`` or ``00``) for any country, otherwise as a valid national number of one of
    ``_NATIONAL_REGIONS``. IPs, decimals and dates are not."""
    digits = re.sub(r"\D", "", candidate)
    if not 7 <= len(digits) <= 15 or any(p.fullmatch(candidate) for p in _NOT_A_PHONE) or candidate.count(".") > 2:
        return False
    try:
        if candidate.startswith("+") or digits.startswith("00"):
            number = phonenumbers.parse("+" + digits.removeprefix("00"), None)
            return phonenumbers.is_possible_number(number)
        return any(phonenumbers.is_valid_number(phonenumbers.parse(digits, region)) for region in _NATIONAL_REGIONS)
    except phonenumbers.NumberParseException:
        return False


_DIGIT_GROUP = re.compile(r"\+?\(?\d+\)?")


def _mask_phones(match: re.Match[str]) -> str:
    """Masks the phone numbers in one candidate run: the whole run, else the longest runs of its
    digit groups that are one (``13912345678 2 attempts`` is a phone, then a count)."""
    text = match.group()
    groups = list(_DIGIT_GROUP.finditer(text))
    out, done, i = [], 0, 0
    while i < len(groups):
        for j in range(len(groups) - 1, i - 1, -1):
            start, end = groups[i].start(), groups[j].end()
            span = text[start:end]
            if span.startswith("(") and ")" not in span:
                start, span = start + 1, span[1:]
            if span.endswith(")") and "(" not in span:
                end, span = end - 1, span[:-1]
            if is_phone_number(span):
                out += [text[done:start], "[phone]"]
                done, i = end, j + 1
                break
        else:
            i += 1
    return "".join(out) + text[done:]


def redact(text: str) -> str:
    """Masks email addresses and phone numbers, and nothing else (ids, IPs, ports, times stay)."""
    return _PHONE_CANDIDATE.sub(_mask_phones, _EMAIL.sub("[email]", text))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": redact(record.getMessage()),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = redact(value) if isinstance(value, str) and key not in _ID_FIELDS else value
        if record.exc_info:
            line["exc"] = redact(self.formatException(record.exc_info))
        return orjson.dumps(line, default=str).decode()


class PlainFormatter(logging.Formatter):
    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        record.message = redact(record.message)
        return super().formatMessage(record)

    def formatException(self, ei: object) -> str:  # noqa: N802 - logging's name
        return redact(super().formatException(ei))  # type: ignore[arg-type]


def configure(level: str = "INFO", json_lines: bool = True) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter() if json_lines else PlainFormatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("aiokafka", "httpx", "httpcore", "uvicorn.access", "aiosqlite", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
