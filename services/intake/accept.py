"""Accepting a lead: validate, key it by identity, publish durably, and only then say yes.

Idempotency. With an ``Idempotency-Key`` the lead id and event id are derived from (source, key),
and the key is recorded, bound to a fingerprint of the body, only once the event is durably
published. A record therefore means an answer was given, and a failure leaves none:
- the same key and body again: the first answer (202, ``replayed``), nothing published again;
- the same key with another body: 409;
- a post that failed (the event log unavailable, 503) left no record, so its retry is accepted,
  with the same body or a corrected one.
The fingerprint is the parsed body as canonical JSON (``canonical_json``), so the same object with
its keys in another order or other spacing is the same body.

A crash between publishing and recording leaves an event without a record: the retry publishes the
same event id again, which changes nothing (consumers dedup on it), and records it. Concurrent
posts of one key are answered one at a time in this process, so a second body waits for the first
answer and gets 409 without being published. (Two intake replicas that get two different bodies
under one key at the same instant can both publish; consumers keep the first event of that id, so
one lead is stored, and the post that records second gets 409.)
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import orjson

from leadrelay.shared.events import Envelope, LeadContact, LeadReceived, new_id
from leadrelay.shared.identity import identity_keys
from leadrelay.shared.ports import BusUnavailable, StoreUnavailable
from leadrelay.shared.problems import Conflict, ServiceUnavailable
from leadrelay.shared.runtime import Runtime

log = logging.getLogger(__name__)

_IDEMPOTENCY_NAMESPACE = uuid.UUID("6f1c1d2e-4d0b-4c1e-9a55-1e2a0c9b7a10")

# One lock per (source, key) being answered; an entry lives only while a post of that key holds it.
_answering: weakref.WeakValueDictionary[tuple[str, str], asyncio.Lock] = weakref.WeakValueDictionary()


@dataclass(frozen=True)
class Accepted:
    lead_id: str
    replayed: bool = False


def derived_id(source: str, dedup_key: str, purpose: str) -> str:
    return str(uuid.uuid5(_IDEMPOTENCY_NAMESPACE, f"{purpose}\x00{source}\x00{dedup_key}"))


def canonical_json(value: object) -> bytes:
    """``value`` as compact JSON with sorted keys: equal for equal objects, however they were written."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


@asynccontextmanager
async def one_answer_at_a_time(source: str, key: str) -> AsyncIterator[None]:
    lock = _answering.get((source, key))
    if lock is None:
        lock = _answering[(source, key)] = asyncio.Lock()
    async with lock:
        yield


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
    """Publishes a LeadReceived and returns its lead id; with a ``dedup_key``, answers a retry with
    the first lead (``replayed``). Raises Conflict (the key was used with another body) or
    ServiceUnavailable (nothing was stored, nothing recorded: retry)."""
    if not dedup_key:
        return await publish_lead(runtime, source=source, source_kind=source_kind, contact=contact,
                                  external_id=external_id, lead_id=new_id(), event_id=new_id())
    body_hash = hashlib.sha256(body_fingerprint).hexdigest()
    async with one_answer_at_a_time(source, dedup_key):
        try:
            async with runtime.store.read() as uow:
                answered = await uow.idempotency.get(source, dedup_key)
        except StoreUnavailable as exc:
            raise ServiceUnavailable("The lead store is unavailable; the lead was not stored. Retry later.",
                                     headers={"Retry-After": "5"}) from exc
        if answered is not None:
            return replay(runtime, source, answered.body_hash, answered.lead_id, body_hash)
        lead_id = derived_id(source, dedup_key, "lead")
        accepted = await publish_lead(runtime, source=source, source_kind=source_kind, contact=contact,
                                      external_id=external_id, lead_id=lead_id,
                                      event_id=derived_id(source, dedup_key, "event"))
        try:
            async with runtime.store.transaction() as uow:
                if await uow.idempotency.remember(source, dedup_key, body_hash, lead_id):
                    return accepted
                answered = await uow.idempotency.get(source, dedup_key)  # another replica answered first
        except StoreUnavailable:
            # The lead is durably in the log, which is what 202 says; without the record a retry
            # publishes the same event id again (harmless) and records it then.
            log.warning("idempotency key not recorded: the store is unavailable", extra={"lead_id": lead_id})
            return accepted
        if answered is not None and answered.body_hash != body_hash:
            raise reused_key()
        return Accepted(lead_id, replayed=answered is not None)  # counted as accepted when published


def replay(runtime: Runtime, source: str, recorded_hash: str, lead_id: str, body_hash: str) -> Accepted:
    """The first answer again, for the same body; raises Conflict for another."""
    if recorded_hash != body_hash:
        raise reused_key()
    runtime.metrics.leads_accepted.labels(source).inc()  # answered 202 again
    return Accepted(lead_id, replayed=True)


def reused_key() -> Conflict:
    return Conflict("This Idempotency-Key was already used with a different body.",
                    errors=[{"field": "Idempotency-Key", "reason": "reused with a different body"}])


async def publish_lead(runtime: Runtime, *, source: str, source_kind: str, contact: LeadContact,
                       external_id: str | None, lead_id: str, event_id: str) -> Accepted:
    """Returns once the LeadReceived is durably in the event log; raises ServiceUnavailable otherwise."""
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
    return Accepted(lead_id)
