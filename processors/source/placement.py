"""Which partition owns a key: the one Kafka's default partitioner puts it in.

Forms and CRM events are keyed by lead_id, so every record of one lead lands in one
partition of each source topic, and all topics have the same partition count: the
worker assigned partition p of every topic (the range assignor hands out equal partition
numbers together) owns the leads whose key hashes to p. The hash is Kafka's murmur2,
which Java clients, kafka-python, aiokafka and librdkafka with ``murmur2_random`` share;
a record a producer put elsewhere is forwarded to its owner, never counted twice.
"""

from __future__ import annotations

from functools import lru_cache

from kafka.partitioner.default import murmur2

#: librdkafka's setting for the same partitioner as Java's (for the project's producers)
PARTITIONER = "murmur2_random"


@lru_cache(maxsize=262_144)
def owner_partition(key: str, partitions: int) -> int:
    """The partition Kafka's default partitioner gives ``key`` (cached: leads recur)."""
    return int(murmur2(key.encode()) & 0x7FFFFFFF) % partitions
