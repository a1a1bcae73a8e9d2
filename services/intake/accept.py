"""Accepting a lead: validate, key it by identity, publish durably, and only then say yes.

Idempotency: with an ``Idempotency-Key`` the lead id and event id are derived from (source,
key), and the key is reserved before publishing. A retry with the same body publishes the
same event id again (harmless: the log and consumers dedup on it) and gets the same answer,
which also covers a crash between reserving and publishing. The same key with another body
is a conflict.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from dataclasses import dataclass

from leadrelay.shared.events import Envelope, LeadContact, LeadReceived, new_id
from leadrelay.shared.identity import identity_keys
from leadrelay.shared.ports import BusUnavailable
from leadrelay.shared.problems import Conflict, ServiceUnavailable
from leadrelay.shared.runtime import Runtime

log = logging.getLogger(__name__)

_IDEMPOTENCY_NAMESPACE = uuid.UUID("6f1c1d2e-4d0b-4c1e-9a55-1e2a0c9b7a10")


@dataclass(frozen=True)
class Accepted:
    lead_id: str
    replayed: bool = False


def derived_id(source: str, dedup_key: str, purpose: str) -> str:
    return str(uuid.uuid5(_IDEMPOTENCY_NAMESPACE, f"{purpose}\x00{source}\x00{dedup_key}"))


async def accept_lead(
    runtime: Runtime,
    *,
    source: str,
    source_kind: str,
    contact: LeadContact,
    external_id: str | None,
    dedup_key: str | None,
    body_fingerprint: bytes,
) -> Accepted:
    """Publishes a LeadReceived; raises Conflict (key reused with another body) or ServiceUnavailable."""
    replayed = False
    if dedup_key:
        lead_id = derived_id(source, dedup_key, "lead")
        event_id = derived_id(source, dedup_key, "event")
        body_hash = hashlib.sha256(body_fingerprint).hexdigest()
        try:
            async with runtime.store.transaction() as uow:
                replayed = not await uow.idempotency.remember(source, dedup_key, body_hash, lead_id)
                record = await uow.idempotency.get(source, dedup_key)
        except Exception as exc:
            raise ServiceUnavailable("The lead store is unavailable; retry later.", headers={"Retry-After": "5"}) from exc
        if record.body_hash != body_hash:
            raise Conflict(
                "This Idempotency-Key was already used with a different body.",
                errors=[{"field": "Idempotency-Key", "reason": "reused with a different body"}],
            )
    else:
        lead_id = new_id()
        event_id = new_id()
    now = runtime.clock()
    keys = identity_keys(contact.email, contact.phone, source, external_id or lead_id, runtime.settings.identity_salt)
    event = LeadReceived(
        lead_id=lead_id, source=source, source_kind=source_kind, external_id=external_id,
        received_at=now, contact=contact, identity_keys=list(keys),
    )
    envelope = Envelope.wrap(event, source=f"leadrelay/intake/{source}", subject=lead_id, key=keys[0],
                             correlation_id=lead_id, id=event_id, time=now)
    try:
        await runtime.bus.publish(envelope)
    except BusUnavailable as exc:
        log.error("event log unavailable; lead refused", extra={"source": source, "error": type(exc.__cause__ or exc).__name__})
        runtime.metrics.leads_rejected.labels(source, "unavailable").inc()
        raise ServiceUnavailable("The event log is unavailable; the lead was not stored. Retry later.",
                                 headers={"Retry-After": "5"}) from exc
    runtime.metrics.leads_accepted.labels(source).inc()
    log.info("lead accepted", extra={"lead_id": lead_id, "event_id": event_id, "source": source, "key": keys[0]})
    return Accepted(lead_id, replayed)

