"""Log redaction masks real email addresses and phone numbers, and leaves the ids we log alone."""

from __future__ import annotations

import io
import logging

import orjson
import pytest

from leadrelay.shared.logging import JsonFormatter, redact


@pytest.mark.parametrize("line", [
    "Uvicorn running on ('127.0.0.1', 8080)",
    "listening on 127.0.0.1:8080 and 10.20.30.40:9092",
    "lead 550e8400-e29b-41d4-a716-446655440000 routed",
    "event 12345678-1234-1234-1234-123456789012",
    "at 2026-11-25T02:16:00+08:00, then 2026-11-25 10:15:00.123456 and 2026-11-25T02:16:00Z",
    "ports 8080 9090 19092 55432",
    "trace 4839201746593821ab0c9d1e2f3a4b5c, id 1234567890abcdef",
    "took 0.123456789s, backoff 12.345 s, wait 1500 ms, PT15M",
    "partition 3 offset 1234567, epoch 1700000000000",
    "version 10.0.19041.1234",
    "postgresql+asyncpg://leadrelay:secret@127.0.0.1:55432/leadrelay",
])
def test_ids_addresses_ports_times_and_durations_are_left_alone(line: str):
    assert redact(line) == line


@pytest.mark.parametrize(("line", "expected"), [
    ("sent to jane.doe+x@acme.co.uk", "sent to [email]"),
    ("李伟 li.wei@bigfactory.cn", "李伟 [email]"),
    ("CN +86 138 0013 8000", "CN [phone]"),
    ("CN +86-138-0013-8000.", "CN [phone]."),
    ("CN +8613800138000", "CN [phone]"),
    ("CN 13800138000", "CN [phone]"),
    ("CN 138 0013 8000, 2 attempts", "CN [phone], 2 attempts"),
    ("电话13800138000", "电话[phone]"),
    ("Beijing landline 010-6552-9988", "Beijing landline [phone]"),
    ("US +1 415 555 0100", "US [phone]"),
    ("US +1 (415) 555-0100", "US [phone]"),
    ("US (415) 555-0100", "US [phone]"),
    ("US 415-555-0100", "US [phone]"),
    ("UK 0044 20 7946 0958", "UK [phone]"),
    ("phone=+8613912345678;", "phone=[phone];"),
])
def test_real_emails_and_phone_numbers_are_masked(line: str, expected: str):
    assert redact(line) == expected


def test_a_json_line_masks_extras_keeps_ids_and_drops_uvicorns_colour_copy():
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("test.redaction")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("Uvicorn running on %s:%d", "127.0.0.1", 8080,
                       extra={"color_message": "Uvicorn running on \x1b[1m%s:%d\x1b[0m",
                              "lead_id": "550e8400-e29b-41d4-a716-446655440000",
                              "detail": "called +86 138 0013 8000"})
    finally:
        logger.removeHandler(handler)
    line = orjson.loads(buffer.getvalue())
    assert line["msg"] == "Uvicorn running on 127.0.0.1:8080"
    assert "color_message" not in line
    assert line["lead_id"] == "550e8400-e29b-41d4-a716-446655440000"
    assert line["detail"] == "called [phone]"
