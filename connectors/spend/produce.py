"""Producing an import's records to the ad-spend topic.

Invariants:
- the producer is the simulator's (:func:`~funnelwatch.streams.simulator.producer.make_producer`):
  idempotent, ``acks=all``, murmur2 partitioning of the key like the Java client, and it
  fails at once when the broker does not answer;
- nothing is sent unless the topic exists (the broker never auto-creates one, and
  librdkafka would otherwise hold the records until they time out, minutes later);
- :func:`produce` returns only when the broker acknowledged every record; otherwise it
  raises :class:`ProduceError` with how many were not. Records may then be partly
  delivered: importing the file again with the same report time is safe, since the
  events carry the same ids and the pipeline keeps one event per id.
"""

from __future__ import annotations

from collections.abc import Iterable

from confluent_kafka import KafkaError, KafkaException, Message

from funnelwatch.settings import Settings
from funnelwatch.streams.simulator.producer import make_producer

#: how long the final flush may wait for the broker's acknowledgements
FLUSH_SECONDS = 60.0
_QUEUE_FULL_WAIT = 0.05


class ProduceError(RuntimeError):
    """Records the broker did not acknowledge (or could not be sent at all)."""


def produce(records: Iterable[tuple[bytes, bytes]], topic: str, settings: Settings) -> int:
    """Send (key, value) records to ``topic``; the number sent, all acknowledged."""
    try:
        producer = make_producer(settings)
    except RuntimeError as exc:
        raise ProduceError(str(exc)) from None
    failures: list[str] = []

    def delivered(error: KafkaError | None, message: Message) -> None:
        if error is not None:  # the producer reports errors only
            failures.append(str(error))

    sent = left = 0
    try:
        try:
            known = producer.list_topics(timeout=10.0).topics
        except KafkaException as exc:
            raise ProduceError(
                f"could not read the topics of {settings.kafka_bootstrap}: {exc}"
            ) from None
        if topic not in known:
            raise ProduceError(f"topic {topic} does not exist (funnelwatch topics create)")
        for key, value in records:
            while True:
                try:
                    producer.produce(topic, value, key, on_delivery=delivered)
                    break
                except BufferError:  # the local queue is full: let librdkafka send
                    producer.poll(_QUEUE_FULL_WAIT)
            sent += 1
        left = producer.flush(FLUSH_SECONDS)
    finally:
        if left:
            producer.purge()  # what is still queued is reported failed, not sent later
            producer.flush(5.0)
        producer.close()
    if failures or left:
        # purged records come back as failures, so failures counts them once purged
        unacknowledged = max(len(failures), left)
        first = failures[0] if failures else f"not acknowledged within {FLUSH_SECONDS:g}s"
        raise ProduceError(
            f"{unacknowledged} of {sent} records were not acknowledged ({first}); "
            "importing the file again with the same report time is safe: its events "
            "keep their ids"
        )
    return sent
