"""What one Kafka partition carries: events/s produced (idempotent, ``acks=all``, the settings intake
uses) and consumed, on a fresh one-partition topic, for docs/scaling.md's partition arithmetic.

    eval "$(bash deploy/up.sh)"
    python bench/kafka_partition.py [--events 50000] [--size 600]

``produce``: ``--events`` records of ``--size`` bytes (about a ``lead.received`` envelope) sent as
fast as the producer batches them, until the last is acknowledged. ``consume``: one consumer
reading them all back from the start. Neither does any work per event, so this is the broker's
and the client's ceiling, far above what one consumer *handling* events (a transaction each)
reaches on the same partition; the scale model uses both. The topic is deleted at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic


async def main(events: int, size: int) -> None:
    bootstrap = os.environ.get("LEADRELAY_TEST_KAFKA")
    if not bootstrap:
        sys.exit('Set LEADRELAY_TEST_KAFKA: eval "$(bash deploy/up.sh)"')
    topic = f"bench-partition-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    payload = b"x" * size
    try:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all", linger_ms=2)
        await producer.start()
        await producer.send_and_wait(topic, payload, key=b"warm")
        started = time.perf_counter()
        pending = [await producer.send(topic, payload, key=str(n).encode()) for n in range(events)]
        await asyncio.gather(*pending)
        produced = time.perf_counter() - started
        await producer.stop()

        consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                    enable_auto_commit=False, group_id=None)
        await consumer.start()
        await consumer.getmany(timeout_ms=2000, max_records=1)  # the warm-up record, and the fetch session
        read, started = 0, time.perf_counter()
        while read < events:
            batches = await consumer.getmany(timeout_ms=2000, max_records=5000)
            read += sum(len(records) for records in batches.values())
        consumed = time.perf_counter() - started
        await consumer.stop()
        mb = events * size / 1e6
        print(f"produce, acks=all, idempotent : {events / produced:10,.0f} events/s  ({mb / produced:6.1f} MB/s)")
        print(f"consume, one consumer         : {events / consumed:10,.0f} events/s  ({mb / consumed:6.1f} MB/s)")
        print(f"({events:,} events of {size} bytes on one partition; cores: {os.cpu_count()}, "
              f"load average {os.getloadavg()[0]:.1f})")
    finally:
        await admin.delete_topics([topic])
        await admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--size", type=int, default=600)
    args = parser.parse_args()
    asyncio.run(main(args.events, args.size))
