"""The generic target: an HTTPS endpoint that takes Standard Webhooks.

The body is ``{"type", "timestamp", "data"}`` (the spec's recommended shape), signed over its exact
bytes with the subscription's ``whsec_`` secret; ``webhook-id`` is the event id. Answers follow
the spec: only 2xx is delivered; 410 means "stop sending"; 429/502/503/504 are throttling, with
``Retry-After`` honoured; anything else (3xx included: redirects are not followed) is retried.
"""

from __future__ import annotations

from datetime import datetime

import orjson

from leadrelay.services.notifier.targets import (
    AccessToken,
    Delivered,
    HttpRequest,
    HttpResponse,
    Outcome,
    OutgoingEvent,
    Permanent,
    RetryAfter,
    TargetConfig,
    retry_after_seconds,
)
from leadrelay.shared.signed_webhooks import signed_headers

USER_AGENT = "Leadrelay-Webhooks/1"
THROTTLING = (429, 502, 503, 504)


def body_of(event: OutgoingEvent) -> bytes:
    return orjson.dumps({"type": event.type, "timestamp": event.occurred_at.isoformat(), "data": event.data})


class StandardWebhook:
    kind = "webhook"

    def build(self, event: OutgoingEvent, target: TargetConfig, token: AccessToken | None,
              now: datetime) -> HttpRequest:
        body = body_of(event)
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT,
                   **signed_headers([target.secret, *target.extra_secrets], event.id, body, now)}
        return HttpRequest("POST", target.url, headers, body)

    def interpret(self, response: HttpResponse) -> Outcome:
        status = response.status
        if 200 <= status < 300:
            return Delivered()
        if status == 410:
            return Permanent("the receiver answered 410 Gone")
        if status in THROTTLING:
            return RetryAfter(retry_after_seconds(response.headers), f"throttled: HTTP {status}")
        return RetryAfter(None, f"HTTP {status}")

    def token_request(self, target: TargetConfig, now: datetime) -> None:
        return None

    def read_token(self, response: HttpResponse, now: datetime) -> AccessToken:
        raise ValueError("a Standard Webhooks endpoint takes no token")
