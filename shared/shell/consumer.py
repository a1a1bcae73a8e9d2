"""The consumer loop every service shares: at-least-once in, exactly-once effect.

For each poll: one transaction records the events' ids as processed for this consumer, runs the
handler over each in order (their effects and outgoing events go into the same transaction), and
commits; only then is the bus offset committed. A redelivery finds the id and changes nothing.
One commit (one fsync) per poll rather than per event is where the throughput comes from: a
commit costs as much as the rest of a small event's handling (bench/report.py). A handler whose
events lock rows names them, and the poll is split into groups that share no row and no key, one
transaction each, so replicas over different pools still do not wait for each other.

When anything in that transaction fails, it is rolled back whole and the poll's events are
handled again one at a time, each in its own transaction, exactly as before batching: so a
poison event is retried and dead-lettered alone, and the events beside it are not held back.

An event that keeps failing is poison: after bounded retries it goes to the dead-letter topic
(and table, for ``leadrelay dlq``) in a transaction that also marks it processed, and the line
moves on. Infrastructure failures (database unreachable) are not poison: they are retried until
the database is back, and the offset is not committed meanwhile.

Beside the loop, the runner records the subscription's lag every second, so a consumer stuck
on one event still reports the events piling up behind it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass

from opentelemetry.trace import SpanKind, Tracer
from pydantic import ValidationError

from leadrelay.shared import topics
from leadrelay.shared.batches import connected_groups
from leadrelay.shared.erasure import is_event_tombstone
from leadrelay.shared.events import Contract, Envelope
from leadrelay.shared.metrics import Metrics
from leadrelay.shared.ports import (
    Bus,
    BusUnavailable,
    Delivery,
    EventHandler,
    RetryLater,
    Store,
    StoreUnavailable,
    Subscription,
)
from leadrelay.shared.tracing import NO_TRACER, envelope_context, span

log = logging.getLogger(__name__)

# Backoff between attempts at one event; short, because a poison event holds up its partition.
RETRY_DELAYS_S = (0.05, 0.25, 1.0)
INFRA_RETRY_MAX_DELAY_S = 5.0
# How often the lag gauge is refreshed: finer than any scrape interval, and one cheap query (an
# index count, or one ListOffsets request to Kafka) a second per consumer.
LAG_INTERVAL_S = 1.0


@dataclass(frozen=True)
class _Typed:
    delivery: Delivery
    envelope: Envelope
    event: Contract


@dataclass(frozen=True)
class ConsumerSpec:
    name: str
    topics: tuple[str, ...]
    handle: EventHandler


class ConsumerRunner:
    def __init__(self, spec: ConsumerSpec, bus: Bus, store: Store, metrics: Metrics,
                 max_retries: int = len(RETRY_DELAYS_S), kill_before_offset_commit: int = 0,
                 tracer: Tracer = NO_TRACER) -> None:
        self.spec = spec
        self.tracer = tracer
        self.bus = bus
        self.store = store
        self.metrics = metrics
        self.max_retries = max_retries
        # Chaos hook for the crash tests: SIGKILL this process after the N-th batch's effects
        # committed and before its offsets did, the window exactly-once effect must survive.
        self.kill_before_offset_commit = kill_before_offset_commit
        self.batches = 0
        self.lag_partitions: set[int] = set()

    async def run(self, stop: asyncio.Event) -> None:
        subscription = self.bus.subscribe(self.spec.name, self.spec.topics)
        lag_recorder = asyncio.create_task(self._record_lag_every_interval(subscription))
        try:
            while not stop.is_set():
                batch = await subscription.poll(max_records=100, timeout_s=0.5)
                if batch:
                    await self.process_batch(batch)
                    self.batches += 1
                    if self.batches == self.kill_before_offset_commit:
                        log.warning("chaos: killing this process before the offset commit",
                                    extra={"consumer": self.spec.name, "batch": self.batches})
                        os.kill(os.getpid(), signal.SIGKILL)
                    await subscription.commit(batch)
        finally:
            lag_recorder.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await lag_recorder
            await subscription.close()

    async def _record_lag_every_interval(self, subscription: Subscription) -> None:
        while True:
            await asyncio.sleep(LAG_INTERVAL_S)
            try:
                await self.record_lag(subscription)
            except (BusUnavailable, StoreUnavailable) as exc:  # the gauge keeps its last values
                log.debug("consumer lag not measured", extra={"consumer": self.spec.name, "error": type(exc).__name__})
            except Exception:  # a metrics fault must not stop the consumer; say so and go on
                log.exception("recording consumer lag failed", extra={"consumer": self.spec.name})

    async def record_lag(self, subscription: Subscription) -> None:
        """Sets the lag gauge to what the subscription measures, and drops the partitions it
        no longer holds (taken by a rebalance) so their last value does not linger."""
        lag = await subscription.lag()
        gauge = self.metrics.consumer_lag
        for partition, behind in lag.items():
            gauge.labels(self.spec.name, str(partition)).set(behind)
        for partition in self.lag_partitions - lag.keys():
            gauge.remove(self.spec.name, str(partition))
        self.lag_partitions = set(lag)

    async def process_batch(self, batch: Sequence[Delivery]) -> None:
        """Handles a poll's deliveries in as few transactions as keep replicas apart: one, or one
        per group of events that share nothing (see ``_independent_groups``); one event at a time
        for a group whose transaction fails."""
        typed = [item for item in [await self._typed(delivery) for delivery in batch] if item is not None]
        for group in await self._independent_groups(typed):
            await self._process_together(group)

    async def _independent_groups(self, typed: list[_Typed]) -> list[list[_Typed]]:
        """A handler whose events lock rows (the router: a pool's fairness rows) names what each
        event holds (``holds``); the batch is split where nothing is shared, so a replica working
        on one pool never waits for a batch that merely also touched another."""
        holds = getattr(self.spec.handle, "holds", None)
        if holds is None or len(typed) <= 1:
            return [typed] if typed else []
        try:
            async with self.store.read() as uow:
                held = await holds([item.event for item in typed], uow)
        except Exception:  # the store away, a poison event (an unknown policy): the careful path sorts it out
            log.info("batch not split; handling it whole", extra={"consumer": self.spec.name, "events": len(typed)})
            return [typed]
        keys = [{*things, f"key:{item.envelope.key}"} for item, things in zip(typed, held, strict=True)]
        return [[typed[index] for index in group] for group in connected_groups(keys)]

    async def _process_together(self, typed: list[_Typed]) -> None:
        if len(typed) <= 1:
            for item in typed:
                await self._process_typed(item)
            return
        started = time.perf_counter()
        try:
            outcomes = await self._handle_together(typed)
        except Exception as exc:  # any failure, infrastructure or poison: the careful path sorts it out
            log.warning("batch failed; handling its events one at a time", extra={
                "consumer": self.spec.name, "events": len(typed), "error": type(exc).__name__})
            for item in typed:
                await self._process_typed(item)
            return
        elapsed = time.perf_counter() - started
        for item, fresh in zip(typed, outcomes, strict=True):
            if not fresh:
                log.info("redelivered event skipped", extra={
                    "consumer": self.spec.name, "event_id": item.envelope.id, "topic": item.delivery.topic,
                    "offset": item.delivery.offset})
        handled = sum(outcomes)
        if handled:
            self.metrics.events_processed.labels(self.spec.name).inc(handled)
        if len(outcomes) - handled:
            self.metrics.duplicates_skipped.labels(self.spec.name).inc(len(outcomes) - handled)
        histogram = self.metrics.handler_seconds.labels(self.spec.name)
        for _ in outcomes:  # each event's share of the batch, commit included
            histogram.observe(elapsed / len(outcomes))

    async def process(self, delivery: Delivery) -> None:
        """Handles one delivery in its own transaction, retrying it, dead-lettering it if poison."""
        item = await self._typed(delivery)
        if item is not None:
            await self._process_typed(item)

    async def _typed(self, delivery: Delivery) -> _Typed | None:
        """The delivery with its envelope and typed payload, validated once here; None when there
        is nothing to handle (an erased event's tombstone) or it went to the dead-letter topic."""
        if is_event_tombstone(delivery.payload):  # a person's erased data: nothing to handle, nothing wrong
            self.metrics.duplicates_skipped.labels(self.spec.name).inc()
            return None
        try:
            envelope = Envelope.from_bytes(delivery.payload)
            event = envelope.payload()
        except (ValidationError, KeyError, ValueError) as exc:
            await self._dead_letter(delivery, None, f"malformed event: {exc}")
            return None
        if not isinstance(event, self.spec.handle.events):
            await self._dead_letter(delivery, envelope.id, f"{self.spec.name} does not take {envelope.type} events")
            return None
        return _Typed(delivery, envelope, event)

    async def _process_typed(self, item: _Typed) -> None:
        delivery, envelope, event = item.delivery, item.envelope, item.event
        attempt = 0
        infra_delay = 0.1
        while True:
            started = time.perf_counter()
            try:
                handled = await self._handle_once(event, envelope, delivery.headers)
            except Exception as exc:
                if isinstance(exc, StoreUnavailable | RetryLater):
                    log.warning("cannot handle the event yet; retrying", extra={
                        "consumer": self.spec.name, "event_id": envelope.id, "error": type(exc).__name__})
                    await asyncio.sleep(infra_delay)
                    infra_delay = min(infra_delay * 2, INFRA_RETRY_MAX_DELAY_S)
                    continue
                if attempt < self.max_retries:
                    await asyncio.sleep(RETRY_DELAYS_S[min(attempt, len(RETRY_DELAYS_S) - 1)])
                    attempt += 1
                    continue
                log.exception("poison event dead-lettered", extra={
                    "consumer": self.spec.name, "event_id": envelope.id, "topic": delivery.topic,
                    "offset": delivery.offset})
                await self._dead_letter(delivery, envelope.id, f"{type(exc).__name__}: {exc}")
                return
            if handled:
                self.metrics.events_processed.labels(self.spec.name).inc()
                self.metrics.handler_seconds.labels(self.spec.name).observe(time.perf_counter() - started)
            else:
                self.metrics.duplicates_skipped.labels(self.spec.name).inc()
                log.info("redelivered event skipped", extra={"consumer": self.spec.name, "event_id": envelope.id,
                                                             "topic": delivery.topic, "offset": delivery.offset})
            return

    async def _handle_together(self, typed: list[_Typed]) -> list[bool]:
        """One transaction over many events: their ids marked processed and the erased ones
        found with one statement each, the handler's ``prepare`` (if it has one: the router takes
        every lock the batch needs at once, in the one global order), then the handler over each
        fresh event in order. Returns, per event, whether it was handled (False: a redelivery)."""
        async with self.store.transaction() as uow:
            fresh = await uow.inbox.mark_processed_many(self.spec.name, [item.envelope.id for item in typed])
            erased = await uow.privacy.erased_events(fresh) if fresh else set()
            todo = []
            for item in typed:
                first = item.envelope.id in fresh  # a second copy of one event in one poll is a redelivery
                fresh.discard(item.envelope.id)
                todo.append(first)
            to_handle = [item for item, first in zip(typed, todo, strict=True)
                         if first and item.envelope.id not in erased]
            prepare = getattr(self.spec.handle, "prepare", None)
            if prepare is not None and to_handle:
                await prepare([item.event for item in to_handle], uow)
            for item in to_handle:
                with self._span(item.envelope, item.delivery.headers):
                    await self.spec.handle(item.event, item.envelope, uow)
        return todo

    def _span(self, envelope: Envelope, headers: Sequence[tuple[str, bytes]]) -> contextlib.AbstractContextManager:
        # One span per attempt, a child of the span that emitted the event (a new trace when it
        # came without one); the events the handler emits carry this span's context on.
        return span(self.tracer, f"{self.spec.name}.handle", kind=SpanKind.CONSUMER,
                  context=envelope_context(envelope, headers), lead_id=envelope.subject, event_id=envelope.id,
                  event_type=envelope.type, extra={"messaging.operation.type": "process",
                                                   "messaging.destination.name": envelope.topic,
                                                   "messaging.consumer.group.name": self.spec.name})

    async def _handle_once(self, event: Contract, envelope: Envelope,
                           headers: Sequence[tuple[str, bytes]] = ()) -> bool:
        with self._span(envelope, headers) as current:
            async with self.store.transaction() as uow:
                if not await uow.inbox.mark_processed(self.spec.name, envelope.id):
                    current.set_attribute("leadrelay.duplicate", True)
                    return False
                # Erased since it was read (Kafka keeps its copy until retention): handling it
                # would bring the person's data back.
                if await uow.privacy.erased_events([envelope.id]):
                    current.set_attribute("leadrelay.erased", True)
                    return True
                await self.spec.handle(event, envelope, uow)
        return True

    async def _dead_letter(self, delivery: Delivery, event_id: str | None, error: str) -> None:
        while True:
            try:
                async with self.store.transaction() as uow:
                    dead_letter_id = f"dlq:{self.spec.name}:{delivery.topic}:{delivery.partition}:{delivery.offset}"
                    dlq_topic = topics.dead_letter(delivery.topic, self.spec.name)
                    # A redelivery of an event we already dead-lettered finds its id here. The
                    # event id is not marked processed: a source's retry of it gets another go.
                    if await uow.outbox.append_if_new(dlq_topic, delivery.key, delivery.payload, dead_letter_id):
                        await uow.inbox.dead_letter(self.spec.name, delivery.topic, event_id, delivery.payload, error)
                break
            except Exception as exc:
                if not isinstance(exc, StoreUnavailable):
                    raise
                await asyncio.sleep(1.0)
        self.metrics.dead_lettered.labels(self.spec.name).inc()
