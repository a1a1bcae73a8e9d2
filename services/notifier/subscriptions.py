"""Webhook subscriptions as use cases: create, list, remove, rotate the secret, list and redrive
deliveries. The admin API and the CLI both call these; they take ports, never a request.

A subscription's secret is sealed before it is stored, and shown only once: the ``whsec_`` secret
a new webhook subscription (or a rotation) makes is returned by the call that made it and never
again. A CRM connector's credential (``secret``) is given by the operator and never shown back.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from leadrelay.services.notifier.targets import EVENT_TYPES, TARGETS
from leadrelay.shared.ports import Store, SubscriptionRecord, WebhookDeliveryRecord
from leadrelay.shared.problems import Conflict, InvalidField, NotFound
from leadrelay.shared.secret_box import SecretBox
from leadrelay.shared.signed_webhooks import is_secret, new_secret

MAX_URL_CHARS = 2000


@dataclass(frozen=True)
class Created:
    subscription: SubscriptionRecord
    secret: str | None  # the generated whsec_ secret, shown once; None when the operator gave it


def check_url(url: str) -> str:
    parts = urlsplit(url)
    if len(url) > MAX_URL_CHARS or parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidField("url must be an http(s) URL.", errors=[{"field": "url", "reason": "not an http(s) URL"}])
    return url


def check_events(events: Sequence[str]) -> list[str]:
    chosen = sorted({event.strip() for event in events if event.strip()})
    unknown = [event for event in chosen if event not in EVENT_TYPES]
    if not chosen or unknown:
        raise InvalidField(f"events must be some of {', '.join(EVENT_TYPES)}.",
                           errors=[{"field": "events", "reason": f"unknown event type {unknown[0]}" if unknown
                                    else "at least one event type"}])
    return chosen


async def create_subscription(store: Store, box: SecretBox, *, url: str, events: Sequence[str],
                              target: str = "webhook", secret: str | None = None,
                              config: dict[str, Any] | None = None) -> Created:
    """Raises InvalidField naming the field for a bad URL, event type, target or secret."""
    if target not in TARGETS:
        raise InvalidField(f"target must be one of {', '.join(sorted(TARGETS))}.",
                           errors=[{"field": "target", "reason": "unknown target"}])
    generated = None
    if secret is None:
        if target != "webhook":
            raise InvalidField(f"A {target} connector needs its credential in secret.",
                               errors=[{"field": "secret", "reason": "required for this target"}])
        secret = generated = new_secret()
    elif target == "webhook" and not is_secret(secret):
        raise InvalidField("A webhook secret is whsec_ followed by base64 of 24-64 bytes (or leave it out).",
                           errors=[{"field": "secret", "reason": "not a whsec_ secret"}])
    new = {"id": "wh_" + secrets.token_hex(8), "url": check_url(url), "target": target,
           "secret": box.seal(secret), "event_types": check_events(events), "config": dict(config or {})}
    async with store.transaction() as uow:
        subscription = await uow.subscriptions.add(**new)  # type: ignore[arg-type]
    return Created(subscription, generated)


async def rotate_secret(store: Store, box: SecretBox, subscription_id: str) -> str:
    """A new whsec_ secret (returned once); the old one keeps signing beside it for a grace period
    (``webhook_sender.ROTATION_GRACE``). Raises NotFound, or Conflict for a connector."""
    async with store.transaction() as uow:
        subscription = await uow.subscriptions.get(subscription_id)
        if subscription is None or not subscription.active:
            raise NotFound(f"No webhook subscription {subscription_id}.")
        if subscription.target != "webhook":
            raise Conflict("A connector's credential is the CRM's; replace the subscription to change it.",
                           errors=[{"field": "id", "reason": f"a {subscription.target} connector"}])
        secret = new_secret()
        await uow.subscriptions.set_secret(subscription_id, box.seal(secret), subscription.secret)
    return secret


async def remove_subscription(store: Store, subscription_id: str) -> int:
    """Stops the subscription; its waiting and dead-lettered deliveries are cancelled (returns how
    many). Raises NotFound."""
    async with store.transaction() as uow:
        if not await uow.subscriptions.remove(subscription_id):
            raise NotFound(f"No webhook subscription {subscription_id}.")
        return await uow.webhook_deliveries.cancel_waiting(subscription_id)


async def redrive(store: Store, delivery_id: int, now: datetime) -> WebhookDeliveryRecord:
    """Sends a dead-lettered delivery again, from its first attempt, at ``now``. Raises NotFound, or
    Conflict when it is not dead-lettered or its subscription was removed."""
    async with store.transaction() as uow:
        delivery = await uow.webhook_deliveries.get(delivery_id)
        if delivery is None:
            raise NotFound(f"No webhook delivery {delivery_id}.")
        subscription = await uow.subscriptions.get(delivery.subscription_id)
        if delivery.state != "dead" or subscription is None or not subscription.active:
            raise Conflict(f"Delivery {delivery_id} is {delivery.state}; only a dead-lettered one of an active "
                           "subscription can be redriven.", errors=[{"field": "id", "reason": delivery.state}])
        await uow.webhook_deliveries.update(delivery_id, state="pending", attempts=0, next_attempt_at=now)
        await uow.leads.add_history(delivery.lead_id, "webhook_redriven", {
            "subscription": delivery.subscription_id, "event": delivery.event_type, "delivery": delivery_id}, at=now)
        redriven = await uow.webhook_deliveries.get(delivery_id)
    assert redriven is not None
    return redriven


def subscription_view(subscription: SubscriptionRecord) -> dict[str, Any]:
    """What the API and the CLI show: never the secret."""
    return {"id": subscription.id, "url": subscription.url, "target": subscription.target,
            "events": list(subscription.event_types), "active": subscription.active,
            "created_at": subscription.created_at.isoformat(),
            "secret_rotated_at": subscription.secret_rotated_at.isoformat() if subscription.secret_rotated_at else None,
            "config": subscription.config}


def delivery_view(delivery: WebhookDeliveryRecord) -> dict[str, Any]:
    return {"id": delivery.id, "subscription": delivery.subscription_id, "event_id": delivery.event_id,
            "event": delivery.event_type, "lead_id": delivery.lead_id, "state": delivery.state,
            "attempts": delivery.attempts, "next_attempt_at": delivery.next_attempt_at.isoformat(),
            "last_error": delivery.last_error, "created_at": delivery.created_at.isoformat(),
            "delivered_at": delivery.delivered_at.isoformat() if delivery.delivered_at else None}
