"""Topic administration: create the catalogue's topics, check existing ones.

Invariant: :func:`ensure_topics` returns only when every catalogue topic exists with
its catalogue partition count; a topic that exists with another count is an error
(Faust would crash later with PartitionsMismatch, far from the cause).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from .catalogue import TopicSpec


class TopicMismatch(RuntimeError):
    pass


def ensure_topics(
    bootstrap: str,
    specs: Iterable[TopicSpec],
    replication_factor: int = 1,
    log: Callable[[str], None] = lambda _: None,
) -> list[str]:
    """Create missing topics; return the names created."""
    specs = list(specs)
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="funnelwatch-admin")
    try:
        existing = partition_counts(admin, [s.name for s in specs])
        missing = [s for s in specs if s.name not in existing]
        wrong = [
            f"{s.name} has {existing[s.name]} partitions, the catalogue says {s.partitions}"
            for s in specs
            if s.name in existing and existing[s.name] != s.partitions
        ]
        if wrong:
            raise TopicMismatch(
                "topics exist with other partition counts (delete them or set "
                "FUNNELWATCH_PARTITIONS to match): " + "; ".join(wrong)
            )
        if missing:
            new = [
                NewTopic(s.name, s.partitions, replication_factor, topic_configs=s.configs())
                for s in missing
            ]
            # another process may create a topic between our check and create: fine
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics(new, validate_only=False)
            for s in missing:
                log(f"created topic {s.name} ({s.partitions} partitions)")
        return [s.name for s in missing]
    except KafkaError as exc:
        raise RuntimeError(f"Kafka at {bootstrap} refused topic administration: {exc}") from exc
    finally:
        admin.close()


def partition_counts(admin: KafkaAdminClient, names: list[str]) -> dict[str, int]:
    listed = set(admin.list_topics())
    wanted = [n for n in names if n in listed]
    if not wanted:
        return {}
    return {t["name"]: len(t["partitions"]) for t in admin.describe_topics(wanted)}
