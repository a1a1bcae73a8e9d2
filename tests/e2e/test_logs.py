"""Logs carry ids, never a person's email or phone number."""

from __future__ import annotations

import io
import logging

from leadrelay.shared.logging import JsonFormatter, redact
from tests.e2e.test_pipeline import wait_for_messages

EMAIL = "zhang.san.private@example.org"
PHONE = "+8613912345678"


async def test_a_lead_through_the_whole_pipeline_leaves_no_email_or_phone_in_the_logs(embedded, chat):
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        response = await embedded.post_lead({"email": EMAIL, "phone": PHONE, "name": "Zhang San", "title": "CTO"})
        lead = await embedded.wait_for(response.json()["lead_id"])
        await wait_for_messages(chat, lead["lead_id"], 1)
        await embedded.post_lead({"email": "not-valid@", "phone": PHONE})  # a refused lead logs too
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)
    text = buffer.getvalue()
    assert lead["lead_id"] in text, "the pipeline should have logged the lead id"
    for secret in (EMAIL, "zhang.san.private", PHONE, PHONE[1:], "13912345678"):
        assert secret not in text


def test_the_redaction_backstop_masks_emails_and_phones_a_careless_log_line_would_leak():
    assert redact("sent to jane.doe+x@acme.co.uk and +86 139 1234 5678") == "sent to [email] and [phone]"
