"""Delivery targets: where an event goes once the notifier has queued it for a subscription.

A target turns one queued event into one HTTP request and reads the answer; the sender
(``webhook_sender.py``) does the I/O around it: tokens, the call, retries, ordering, dead letters.
The generic Standard Webhooks endpoint is one target (``webhook``); each CRM connector is another,
registered in ``TARGETS`` (the seam is described in docs/integrations.md, "Delivery targets").

Guarantees:
- Pure: no I/O, no clock; the sender passes ``now`` and a token, and performs every call.
- Every answer maps to one outcome: delivered, retry (after N seconds or the sender's backoff),
  permanent (dead-letter now), or re-authenticate. ``detail`` never carries lead data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

# The event types a subscription may ask for.
EVENT_TYPES = ("lead.assigned", "lead.activity", "lead.sla", "lead.recycled", "person.merged", "person.erased")


@dataclass(frozen=True)
class OutgoingEvent:
    """One event as subscribers get it. ``id`` is the event id: the ``webhook-id`` and the
    idempotency key, the same on every retry and every duplicate."""

    id: str
    type: str
    lead_id: str
    occurred_at: datetime
    data: dict[str, Any]


@dataclass(frozen=True)
class TargetConfig:
    """One subscription as its target sees it, secret decrypted. ``url``: the endpoint (webhook)
    or the API's base URL (a CRM). ``config``: the target's non-secret settings."""

    subscription_id: str
    kind: str
    url: str
    secret: str
    config: Mapping[str, Any] = field(default_factory=dict)
    # Secrets that still sign while a rotation's grace period lasts (the old one, after a rotate).
    extra_secrets: tuple[str, ...] = ()


@dataclass(frozen=True)
class AccessToken:
    value: str
    expires_at: datetime | None = None
    extra: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class HttpRequest:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True)
class Delivered:
    detail: str = ""
    record_id: str | None = None  # a CRM's id of the record written (the sender links it to the lead)


@dataclass(frozen=True)
class RetryAfter:
    """Try again: after ``seconds`` (the receiver said so; the sender holds the whole subscription
    until then), or after the sender's own backoff when ``seconds`` is None."""

    seconds: float | None = None
    detail: str = ""


@dataclass(frozen=True)
class Permanent:
    """Never retry: the delivery is dead-lettered at once (an operator may redrive it)."""

    detail: str = ""


@dataclass(frozen=True)
class Reauth:
    """The token was refused: the sender fetches a new one and tries again at once."""

    detail: str = ""


@dataclass(frozen=True)
class Skipped:
    """``build`` only: nothing to send for this event (final; later events of the lead go on)."""

    detail: str = ""


Outcome = Delivered | RetryAfter | Permanent | Reauth


class DeliveryTarget(Protocol):
    kind: str

    def build(self, event: OutgoingEvent, target: TargetConfig, token: AccessToken | None,
              now: datetime) -> HttpRequest | Skipped:
        """The one request that delivers ``event``; raises ValueError for a configuration that can
        never deliver it (the sender dead-letters the delivery with the message)."""
        ...

    def interpret(self, response: HttpResponse) -> Outcome: ...

    def token_request(self, target: TargetConfig, now: datetime) -> HttpRequest | None:
        """The request that gets a token, or None when the target needs none."""
        ...

    def read_token(self, response: HttpResponse, now: datetime) -> AccessToken:
        """The token in the answer to ``token_request``; raises ValueError when it was refused."""
        ...


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """``Retry-After`` in seconds (the delta form; an HTTP date is read as "use your backoff")."""
    value = headers.get("retry-after") or headers.get("Retry-After")
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if 0 <= seconds < 86400 else None


def _registry() -> dict[str, DeliveryTarget]:
    from leadrelay.services.notifier.targets.hubspot import HubSpotContacts
    from leadrelay.services.notifier.targets.salesforce import SalesforceLeads
    from leadrelay.services.notifier.targets.webhook import StandardWebhook

    return {"webhook": StandardWebhook(), "hubspot": HubSpotContacts(), "salesforce": SalesforceLeads()}


# Every target by kind. A connector registers itself here with one entry.
TARGETS: dict[str, DeliveryTarget] = _registry()
