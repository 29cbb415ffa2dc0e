"""The ground-truth file: every record a run sent, as JSON Lines, for offline oracles.

One line per sent record, in send order, duplicates and malformed records included::

    {"topic": "clicks", "topic_name": "funnelwatch.ad-clicks", "key": "clk-…",
     "value": "{…}", "value_encoding": "utf-8", "event_id": "evt-…", "valid": true,
     "reason": null, "duplicate": false}

Invariants: ``value`` is the exact value string sent, or its base64 when the bytes are
not UTF-8 (``value_encoding`` says which); :func:`read_ground_truth` returns records
equal to those written.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from .records import TOPIC_KEYS, SentRecord, TopicKey


def record_to_json(record: SentRecord, topic_names: Mapping[str, str] | None = None) -> str:
    """One ground-truth line (without the newline)."""
    try:
        value, encoding = record.value.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        value, encoding = base64.b64encode(record.value).decode("ascii"), "base64"
    line: dict[str, Any] = {"topic": record.topic_key}
    if topic_names is not None:
        line["topic_name"] = topic_names[record.topic_key]
    line.update(
        key=record.key.decode("utf-8"),
        value=value,
        value_encoding=encoding,
        event_id=record.event_id,
        valid=record.valid,
        reason=record.reason,
        duplicate=record.duplicate,
    )
    return json.dumps(line, ensure_ascii=False, separators=(",", ":"))


def record_from_json(line: str) -> SentRecord:
    data = json.loads(line)
    topic: TopicKey = data["topic"]
    if topic not in TOPIC_KEYS:
        raise ValueError(f"unknown topic {topic!r} in ground truth")
    raw = data["value"]
    value = base64.b64decode(raw) if data["value_encoding"] == "base64" else raw.encode("utf-8")
    return SentRecord(
        topic_key=topic,
        key=data["key"].encode("utf-8"),
        value=value,
        event_id=data["event_id"],
        valid=data["valid"],
        reason=data["reason"],
        duplicate=data["duplicate"],
    )


class GroundTruthWriter:
    """Appends records to a JSON Lines file; use as a context manager."""

    def __init__(self, path: Path, topic_names: Mapping[str, str] | None = None) -> None:
        self.path = path
        self.topic_names = topic_names
        self.count = 0
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] = path.open("w", encoding="utf-8", newline="\n")

    def write(self, record: SentRecord) -> None:
        self._file.write(record_to_json(record, self.topic_names) + "\n")
        self.count += 1

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> GroundTruthWriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def write_ground_truth(
    records: Iterable[SentRecord],
    path: Path,
    topic_names: Mapping[str, str] | None = None,
) -> int:
    """Write all ``records``; return how many."""
    with GroundTruthWriter(path, topic_names) as writer:
        for record in records:
            writer.write(record)
        return writer.count


def read_ground_truth(path: Path) -> Iterator[SentRecord]:
    """The records of a ground-truth file, in send order."""
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                yield record_from_json(line)
