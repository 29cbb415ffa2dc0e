"""The ground-truth file: exact values, every record, readable back."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from funnelwatch.streams.simulator import (
    SimulationConfig,
    default_campaigns,
    generate,
    read_ground_truth,
    write_ground_truth,
)
from funnelwatch.streams.simulator.faults import MALFORMED_BY_NAME, malformed_record

END = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)
CONFIG = SimulationConfig(
    seed=3,
    start=END - timedelta(hours=2),
    end=END,
    campaigns=default_campaigns(3),
    duplicate_rate=0.05,
    out_of_order_rate=0.1,
    malformed_rate=0.05,
)


def test_ground_truth_round_trips_every_record(tmp_path: Path) -> None:
    records = list(generate(CONFIG))
    binary = malformed_record(MALFORMED_BY_NAME["binary_garbage"], "bad-bin", 0, 0)
    records.append(binary)
    path = tmp_path / "truth.jsonl"
    assert write_ground_truth(records, path) == len(records)
    assert list(read_ground_truth(path)) == records


def test_ground_truth_lines_hold_the_exact_value_or_base64(tmp_path: Path) -> None:
    text = next(r for r in generate(CONFIG) if r.valid)
    binary = malformed_record(MALFORMED_BY_NAME["binary_garbage"], "bad-bin", 0, 0)
    path = tmp_path / "truth.jsonl"
    names = {"clicks": "p.ad-clicks", "forms": "p.form-submissions", "crm": "p.crm-events"}
    write_ground_truth([text, binary], path, names)
    first, second = (json.loads(line) for line in path.read_text().splitlines())
    assert first["value"].encode() == text.value and first["value_encoding"] == "utf-8"
    assert first["topic"] == text.topic_key and first["topic_name"] == names[text.topic_key]
    assert {"key", "event_id", "valid", "reason", "duplicate"} <= first.keys()
    assert base64.b64decode(second["value"]) == binary.value
    assert second["value_encoding"] == "base64" and second["valid"] is False
    assert second["reason"] == "malformed_json"


def test_ground_truth_keeps_duplicates_and_send_order(tmp_path: Path) -> None:
    records = list(generate(replace(CONFIG, duplicate_rate=0.2)))
    path = tmp_path / "truth.jsonl"
    write_ground_truth(iter(records), path)
    read = list(read_ground_truth(path))
    assert [r.event_id for r in read] == [r.event_id for r in records]
    assert sum(r.duplicate for r in read) > 0
