"""The Kafka bus (aiokafka): an idempotent ``acks=all`` producer and manually committed groups.

``publish`` returns only after the broker acknowledged the record. The idempotent producer
never gives up on a batch by itself (aiokafka does not expire batches in that mode), so a
bounded wait turns a down broker into ``BusUnavailable`` (a 503) instead of a hung request.
A record whose wait timed out may still be written later: that makes a 503 "maybe stored",
never a 202 "not stored", and consumers dedup on the event id.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    CommitFailedError,
    IllegalStateError,
    InvalidProducerEpoch,
    KafkaError,
    OutOfOrderSequenceNumber,
    ProducerClosed,
    TopicAlreadyExistsError,
    UnknownProducerId,
)

from leadrelay.shared.events import Envelope
from leadrelay.shared.ports import BusUnavailable, Delivery
from leadrelay.shared.tracing import trace_headers, traced

log = logging.getLogger(__name__)

PUBLISH_TIMEOUT_S = 5.0
# Bounds one lag measurement: asking a down broker for end offsets must not hang the caller.
LAG_TIMEOUT_S = 5.0
# After a broker outage the batches we stopped waiting for leave the idempotent producer's
# sequence numbers out of step with the broker's, and aiokafka (unlike the Java client) does
# not bump the producer epoch by itself: every later send to that partition fails. A fresh
# producer gets a fresh producer id.
_PRODUCER_POISONED = (OutOfOrderSequenceNumber, UnknownProducerId, InvalidProducerEpoch, ProducerClosed)


class _LoggingRebalance(ConsumerRebalanceListener):
    """Offsets are committed after every processed batch; work whose partitions were revoked
    before its commit is redelivered to the new owner and skipped there by processed id."""

    def __init__(self, group: str) -> None:
        self.group = group

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        log.info("partitions revoked", extra={"group": self.group, "partitions": sorted(str(tp) for tp in revoked)})

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        log.info("partitions assigned", extra={"group": self.group, "partitions": sorted(str(tp) for tp in assigned)})


class KafkaSubscription:
    def __init__(self, bootstrap: str, group: str, topics: Sequence[str], prefix: str = "") -> None:
        self.group = group
        self.prefix = prefix
        self.topics = [prefix + topic for topic in topics]
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, group_id=prefix + group, enable_auto_commit=False,
            auto_offset_reset="earliest", max_poll_records=100, session_timeout_ms=10000,
            heartbeat_interval_ms=1000, retry_backoff_ms=200,
        )
        self.started = False

    async def _start(self) -> None:
        self.consumer.subscribe(self.topics, listener=_LoggingRebalance(self.group))
        await self.consumer.start()
        self.started = True

    async def poll(self, max_records: int = 100, timeout_s: float = 1.0) -> list[Delivery]:
        if not self.started:
            await self._start()
        batches = await self.consumer.getmany(timeout_ms=int(timeout_s * 1000), max_records=max_records)
        deliveries = []
        for tp, records in batches.items():
            for record in records:
                deliveries.append(Delivery(tp.topic.removeprefix(self.prefix), (record.key or b"").decode(),
                                           record.value or b"", tp.partition, record.offset,
                                           tuple(record.headers or ())))
        return deliveries

    async def lag(self) -> dict[int, int]:
        """Log end offsets asked of the broker (the highwater a fetch last saw is stale while the
        consumer is busy with a batch) minus this member's position, per partition it holds."""
        if not self.started:
            return {}
        held = list(self.consumer.assignment())
        if not held:
            return {}
        behind: dict[int, int] = {}
        try:
            async with asyncio.timeout(LAG_TIMEOUT_S):
                ends = await self.consumer.end_offsets(held)
                for tp in held:
                    # A rebalance may have taken it during the await. A partition not fetched yet
                    # has no highwater and may have no position: position() would wait for one.
                    if tp not in self.consumer.assignment() or self.consumer.highwater(tp) is None:
                        continue
                    position = await self.consumer.position(tp)
                    behind[tp.partition] = behind.get(tp.partition, 0) + max(ends[tp] - position, 0)
        except IllegalStateError:  # revoked between the check and position(): measure next time
            return behind
        except (KafkaError, TimeoutError, OSError) as exc:
            raise BusUnavailable(f"{type(exc).__name__}: {exc}") from exc
        return behind

    async def commit(self, deliveries: Sequence[Delivery]) -> None:
        offsets: dict[TopicPartition, int] = {}
        for d in deliveries:
            tp = TopicPartition(self.prefix + d.topic, d.partition)
            offsets[tp] = max(offsets.get(tp, 0), d.offset + 1)
        # A rebalance can take partitions between the poll and this commit; their new owner
        # redelivers from its last committed offset, and the processed-id table makes that
        # harmless. So commit only what is still ours, and treat a lost race as routine.
        assigned = self.consumer.assignment()
        offsets = {tp: offset for tp, offset in offsets.items() if tp in assigned}
        if not offsets:
            return
        try:
            await self.consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError):
            log.warning("offset commit lost to a rebalance", extra={"group": self.group})

    async def close(self) -> None:
        if self.started:
            await self.consumer.stop()


async def _close_quietly(producer: AIOKafkaProducer) -> None:
    try:
        await asyncio.wait_for(producer.stop(), 30)
    except Exception:  # noqa: BLE001 - a broken producer's shutdown error tells us nothing new
        pass


class KafkaBus:
    def __init__(self, bootstrap: str, *, partitions: int = 6, prefix: str = "") -> None:
        self.bootstrap = bootstrap
        self.partitions = partitions
        self.prefix = prefix
        self.producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        async with self._lock:
            if self.producer is None:
                producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, enable_idempotence=True,
                                            acks="all", linger_ms=2, request_timeout_ms=10000)
                try:
                    await producer.start()
                except KafkaError as exc:
                    await producer.stop()
                    raise BusUnavailable(f"kafka unreachable: {exc}") from exc
                except BaseException:  # cancelled by the publish timeout while the broker hangs
                    await asyncio.shield(producer.stop())
                    raise
                self.producer = producer

    async def stop(self) -> None:
        if self.producer is not None:
            await self.producer.stop()
            self.producer = None

    async def ensure_topics(self, names: Iterable[str]) -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await admin.start()
        try:
            existing = set(await admin.list_topics())
            wanted = sorted({self.prefix + name for name in names})
            missing = [NewTopic(name, self.partitions, 1) for name in wanted if name not in existing]
            if missing:
                try:
                    await admin.create_topics(missing)
                except TopicAlreadyExistsError:
                    pass
        finally:
            await admin.close()

    async def publish(self, envelope: Envelope) -> None:
        envelope = traced(envelope)
        await self.publish_records([(envelope.topic, envelope.key, envelope.to_bytes())])

    async def publish_records(self, records: Sequence[tuple[str, str, bytes]]) -> None:
        """Sends in order and waits for every acknowledgement; raises BusUnavailable."""
        try:
            await asyncio.wait_for(self._send_all(records), PUBLISH_TIMEOUT_S)
        except _PRODUCER_POISONED as exc:
            await self._replace_producer()
            raise BusUnavailable(f"{type(exc).__name__}: producer reset") from exc
        except (KafkaError, TimeoutError, OSError) as exc:
            raise BusUnavailable(f"{type(exc).__name__}: {exc}") from exc

    async def _replace_producer(self) -> None:
        async with self._lock:
            producer, self.producer = self.producer, None
        if producer is not None:
            log.warning("kafka producer reset after a sequence error")
            # Its unacknowledged batches are the ones we already answered 503 for.
            asyncio.get_running_loop().create_task(_close_quietly(producer))

    async def _send_all(self, records: Sequence[tuple[str, str, bytes]]) -> None:
        await self.start()
        assert self.producer is not None
        # send() only enqueues (it may wait for metadata); the futures resolve on the broker's ack.
        # The headers repeat the envelope's trace context for tools that read only headers.
        futures = [await self.producer.send(self.prefix + topic, payload, key=key.encode(),
                                            headers=trace_headers(payload) or None)
                   for topic, key, payload in records]
        await asyncio.gather(*futures)

    def subscribe(self, group: str, topics: Sequence[str]) -> KafkaSubscription:
        return KafkaSubscription(self.bootstrap, group, topics, self.prefix)
