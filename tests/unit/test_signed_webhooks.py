"""Standard Webhooks signing and checking (``shared/signed_webhooks.py``), against the spec's test
vector and the ``standardwebhooks`` library, on a clock the test chooses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks import Webhook

from leadrelay.shared.secret_box import SecretBox, SecretUnreadable
from leadrelay.shared.signed_webhooks import SignatureRefused, is_secret, new_secret, signature, signed_headers, verify

# From standard-webhooks' libraries/python/tests/test_webhooks.py (docs: /work/shared/CRM.md §1.5).
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID, VECTOR_TS, VECTOR_BODY = "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
NOW = datetime.fromtimestamp(VECTOR_TS, UTC)


def vector_headers(**changes: str) -> dict[str, str]:
    return {"webhook-id": VECTOR_ID, "webhook-timestamp": str(VECTOR_TS), "webhook-signature": VECTOR_SIGNATURE,
            **changes}


def test_the_spec_test_vector_signs_and_verifies():
    assert signature(VECTOR_SECRET, VECTOR_ID, VECTOR_TS, VECTOR_BODY) == VECTOR_SIGNATURE
    assert verify(VECTOR_SECRET, VECTOR_BODY, vector_headers(), NOW) == VECTOR_ID
    assert verify(VECTOR_SECRET, VECTOR_BODY, {k.upper(): v for k, v in vector_headers().items()}, NOW) == VECTOR_ID


@pytest.mark.parametrize(("headers", "body", "now", "reason"), [
    (vector_headers(**{"webhook-signature": ""}), VECTOR_BODY, NOW, "missing"),
    ({"webhook-id": VECTOR_ID, "webhook-signature": VECTOR_SIGNATURE}, VECTOR_BODY, NOW, "missing"),
    (vector_headers(**{"webhook-timestamp": "1614265330.5"}), VECTOR_BODY, NOW, "malformed"),
    (vector_headers(**{"webhook-id": "msg.1"}), VECTOR_BODY, NOW, "malformed"),
    (vector_headers(), VECTOR_BODY, NOW + timedelta(minutes=5, seconds=1), "stale"),
    (vector_headers(), VECTOR_BODY, NOW - timedelta(minutes=5, seconds=1), "future"),
    (vector_headers(), b'{"test": 2432232315}', NOW, "mismatch"),
    (vector_headers(**{"webhook-signature": "v1a," + VECTOR_SIGNATURE[3:]}), VECTOR_BODY, NOW, "mismatch"),
    (vector_headers(**{"webhook-signature": "v1,not base64!"}), VECTOR_BODY, NOW, "mismatch"),
    (vector_headers(), b"\xff\xfe", NOW, "malformed"),
])
def test_what_is_refused_and_why(headers, body, now, reason):
    with pytest.raises(SignatureRefused) as refused:
        verify(VECTOR_SECRET, body, headers, now)
    assert refused.value.reason == reason


def test_the_window_is_five_minutes_both_ways_inclusive():
    for delta in (timedelta(minutes=5), timedelta(minutes=-5)):
        assert verify(VECTOR_SECRET, VECTOR_BODY, vector_headers(), NOW + delta) == VECTOR_ID


def test_any_of_several_signatures_will_do_during_a_rotation():
    old, new = new_secret(), new_secret()
    headers = signed_headers([new, old], "msg_1", b"{}", NOW)
    assert headers["webhook-signature"].count("v1,") == 2
    assert verify(old, b"{}", headers, NOW) == verify(new, b"{}", headers, NOW) == "msg_1"
    with pytest.raises(SignatureRefused):
        verify(new_secret(), b"{}", headers, NOW)


def test_what_we_sign_the_library_verifies_and_what_the_library_signs_we_verify():
    secret = new_secret()
    assert is_secret(secret) and not is_secret("whsec_c2hvcnQ=") and not is_secret("secret")
    headers = signed_headers([secret], "msg_2", b'{"a": 1}', NOW)
    assert headers["webhook-signature"] == Webhook(secret).sign("msg_2", NOW, '{"a": 1}')
    library = {"webhook-id": "msg_3", "webhook-timestamp": str(VECTOR_TS),
               "webhook-signature": Webhook(secret).sign("msg_3", NOW, '{"b": 2}')}
    assert verify(secret, b'{"b": 2}', library, NOW) == "msg_3"


def test_a_sealed_secret_opens_only_with_the_same_master_secret():
    box = SecretBox("a-link-secret-of-enough-length")
    sealed = box.seal("whsec_abc")
    assert "whsec_abc" not in sealed and box.open(sealed) == "whsec_abc"
    with pytest.raises(SecretUnreadable):
        SecretBox("another-link-secret-0123456").open(sealed)
    with pytest.raises(SecretUnreadable):
        box.open(sealed[:-4] + "AAAA")
