"""Accepting a lead: validate, key it by identity, publish durably, and only then say yes.

Idempotency. With an ``Idempotency-Key`` the key is reserved, bound to a fingerprint of the body,
*before* the event is published, and marked answered once it is in the log:
- the same key and body again: the first answer (202, ``replayed``), nothing published again;
- the same key with another body: 409, nothing published;
- a post the event log refused (503) releases its reservation (``forget``), so its retry is accepted,
  with the same body or a corrected one.
The fingerprint is the parsed body as canonical JSON (``canonical_json``), so the same object with
its keys in another order or other spacing is the same body. The lead and event ids are derived
from (source, key, body): a retry of one body gets the same ids, and a refused post that the log
writes after all (a timeout is "maybe stored") cannot take the id of a corrected retry.

Across replicas the store decides, not the order of publishing: of two different bodies posted under
one key at once, on any replicas, only the one whose reservation is stored first is published and
answered 202; the other gets 409. A reservation is released only by the post that made it, only
when its own publish failed, and only while not marked answered. A post that finds a reservation of
its own body not yet answered (its reserver still publishing, or dead) publishes the same event too
and answers 202 only once it has marked it answered, after which nothing can release it. So once a
body was answered 202 the key holds that body, and every other body gets 409.

A crash between publishing and marking leaves a reservation not marked: a retry with the same body
publishes the same event id again, which changes nothing (consumers dedup on it), and marks it. A
post that died before publishing binds the key to its body: a retry with that body is accepted, and
another body gets 409. Concurrent posts of one key are answered one at a time in this process.
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
from opentelemetry.trace import SpanKind

from leadrelay.shared.events import Envelope, LeadContact, LeadReceived, new_id
from leadrelay.shared.identity import identity_keys
from leadrelay.shared.ports import BusUnavailable, IdempotencyRecord, StoreUnavailable, UnitOfWork
from leadrelay.shared.problems import Conflict, ServiceUnavailable
from leadrelay.shared.runtime import Runtime
from leadrelay.shared.tracing import attributes, span

log = logging.getLogger(__name__)

_IDEMPOTENCY_NAMESPACE = uuid.UUID("6f1c1d2e-4d0b-4c1e-9a55-1e2a0c9b7a10")

# One lock per (replica, source, key) being answered; an entry lives only while a post of that key
# holds it. A replica is a runtime (a process has one; a test may run two, as two processes would).
_answering: weakref.WeakValueDictionary[tuple[int, str, str], asyncio.Lock] = weakref.WeakValueDictionary()


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
async def one_answer_at_a_time(runtime: Runtime, source: str, key: str) -> AsyncIterator[None]:
    lock = _answering.get((id(runtime), source, key))
    if lock is None:
        lock = _answering[(id(runtime), source, key)] = asyncio.Lock()
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
    ServiceUnavailable (nothing was stored, nothing recorded: retry).

    The ``intake.accept`` span is the root of the lead's trace (or a child of a webhook's span):
    the event published inside it carries its context."""
    with span(runtime.tracer, "intake.accept", kind=SpanKind.PRODUCER, source=source, source_kind=source_kind,
              idempotency_key_given=bool(dedup_key)) as current:
        accepted = await _answer(runtime, source=source, source_kind=source_kind, contact=contact,
                                 external_id=external_id, dedup_key=dedup_key, body_fingerprint=body_fingerprint)
        if current.is_recording():
            current.set_attributes(attributes(lead_id=accepted.lead_id, replayed=accepted.replayed))
        return accepted


async def _answer(runtime: Runtime, *, source: str, source_kind: str, contact: LeadContact, external_id: str | None,
                  dedup_key: str | None, body_fingerprint: bytes) -> Accepted:
    if not dedup_key:
        return await publish_lead(runtime, source=source, source_kind=source_kind, contact=contact,
                                  external_id=external_id, lead_id=new_id(), event_id=new_id())
    body_hash = hashlib.sha256(body_fingerprint).hexdigest()
    # The ids name the key *and* the body: a post the log refused ambiguously (a timeout, maybe
    # written later) must not take the id of a corrected retry, which consumers would then drop.
    lead_id = derived_id(source, f"{dedup_key}\x00{body_hash}", "lead")
    event_id = derived_id(source, f"{dedup_key}\x00{body_hash}", "event")
    async with one_answer_at_a_time(runtime, source, dedup_key):
        found = await _reserve(runtime, source, dedup_key, body_hash, lead_id)
        if found is not None:
            if found.body_hash != body_hash:
                raise reused_key()
            if found.answered_at is not None:
                return replay(runtime, source, found.body_hash, found.lead_id, body_hash)
            # Reserved for this body by a post still publishing, or one that died: publish the same
            # event too (consumers keep one), and answer only once the reservation is marked answered.
            await publish_lead(runtime, source=source, source_kind=source_kind, contact=contact,
                               external_id=external_id, lead_id=found.lead_id, event_id=event_id)
            if not await _confirm(runtime, source, dedup_key, body_hash, found.lead_id):
                raise reused_key()  # released by its failed publish and taken by another body meanwhile
            return Accepted(found.lead_id, replayed=True)
        try:
            accepted = await publish_lead(runtime, source=source, source_kind=source_kind, contact=contact,
                                          external_id=external_id, lead_id=lead_id, event_id=event_id)
        except ServiceUnavailable:
            await _release(runtime, source, dedup_key, body_hash)
            raise
        async def answered(uow: UnitOfWork) -> None:
            await uow.idempotency.answered(source, dedup_key, body_hash)

        try:
            await runtime.small_writes.write(answered)
        except StoreUnavailable:
            # 202 holds: the event is in the log and only this post could release the reservation.
            # Unmarked, a retry with this body publishes the same event again (harmless).
            log.warning("idempotency key not marked answered: the store is unavailable", extra={"lead_id": lead_id})
        return accepted


async def _reserve(runtime: Runtime, source: str, key: str, body_hash: str, lead_id: str) -> IdempotencyRecord | None:
    """Reserves ``key`` for this body and returns None, or returns the reservation found. In a
    commit shared with other posts' reservations (``runtime.small_writes``): one fsync for many."""
    for _ in range(3):  # a reservation found gone was released between the two statements: try again
        reserved, found = False, None

        async def reserve(uow: UnitOfWork) -> None:
            nonlocal reserved, found
            reserved = await uow.idempotency.remember(source, key, body_hash, lead_id)
            if not reserved:
                found = await uow.idempotency.get(source, key)

        try:
            await runtime.small_writes.write(reserve)
        except StoreUnavailable as exc:
            raise ServiceUnavailable("The lead store is unavailable; the lead was not stored. Retry later.",
                                     headers={"Retry-After": "5"}) from exc
        if reserved:
            return None
        if found is not None:
            return found
    raise ServiceUnavailable("The Idempotency-Key is being answered by another post; retry later.",
                             headers={"Retry-After": "1"})


async def _confirm(runtime: Runtime, source: str, key: str, body_hash: str, lead_id: str) -> bool:
    """Marks ``key`` answered for this body, reserving it again if its reserver released it; False
    when another body holds it now."""
    try:
        async with runtime.store.transaction() as uow:
            if await uow.idempotency.answered(source, key, body_hash):
                return True
            await uow.idempotency.remember(source, key, body_hash, lead_id)
            return await uow.idempotency.answered(source, key, body_hash)
    except StoreUnavailable as exc:
        # Unmarked, the reservation could still be released: no 202 ("maybe stored", as a 503 says).
        raise ServiceUnavailable("The lead store is unavailable; retry later.", headers={"Retry-After": "5"}) from exc


async def _release(runtime: Runtime, source: str, key: str, body_hash: str) -> None:
    """Releases this post's reservation after its publish failed, so a corrected retry is accepted."""
    try:
        async with runtime.store.transaction() as uow:
            await uow.idempotency.forget(source, key, body_hash)
    except StoreUnavailable:
        log.warning("idempotency key not released: the store is unavailable; it stays bound to this body")


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
