"""Validation of raw records and the committed JSON Schema files."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from funnelwatch.schemas.contracts import (
    JSONSCHEMA_DIR,
    REJECT_REASONS,
    InvalidEvent,
    json_schema,
    validate_raw,
    write_json_schemas,
)
from funnelwatch.schemas.events import EVENT_TYPES, AdClick

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
CLICK = {
    "event_type": "ad_click",
    "event_id": "e1",
    "event_time": "2026-11-29T11:59:00Z",
    "schema_version": 1,
    "click_id": "k1",
    "campaign_id": "cmp",
    "ad_group_id": "ag",
    "ad_id": "ad",
    "channel": "google",
    "cost_micros": 1_250_000,
}


def _raw(**changes: object) -> bytes:
    return json.dumps({**CLICK, **changes}).encode()


def test_valid_click_becomes_a_typed_record_in_utc() -> None:
    event = validate_raw(_raw(event_time="2026-11-29T12:59:00+01:00"), now=NOW)
    assert isinstance(event, AdClick)
    assert event.event_time == datetime(2026, 11, 29, 11, 59, tzinfo=UTC)


BAD_RECORDS = [
    (None, "empty"),
    (b"{not json", "malformed_json"),
    (b"\xff\xfe", "malformed_json"),
    (b"[1, 2]", "not_an_object"),
    (_raw(event_type="page_view"), "unknown_event_type"),
    (_raw(cost_micros=-1), "schema"),
    (_raw(event_id=None), "schema"),
    (_raw(event_time="2036-01-01T00:00:00Z"), "future_event_time"),
    (_raw(event_time="2026-11-29T11:00:00"), "schema"),
    (_raw(event_time="2000-01-02T00:00:00Z"), "ancient_event_time"),
    (_raw(cost_micros=10**12), "absurd_cost"),
    # what would stop the decoder itself, not only fail the record
    (b"[" * 100_000 + b"]" * 100_000, "malformed_json"),
    (b'{"cost_micros": ' + b"9" * 5000 + b"}", "malformed_json"),
    (_raw(event_time="9999-12-31T23:59:59-23:59"), "schema"),
]


@pytest.mark.parametrize(("raw", "reason"), BAD_RECORDS)
def test_bad_records_are_rejected_with_their_reason(raw: bytes | None, reason: str) -> None:
    with pytest.raises(InvalidEvent) as caught:
        validate_raw(raw, now=NOW)
    assert caught.value.reason == reason
    assert reason in REJECT_REASONS


def test_the_declared_reasons_are_exactly_those_records_are_rejected_for() -> None:
    # the worker declares a dead-letter series per declared reason at start
    assert sorted(REJECT_REASONS) == sorted({reason for _, reason in BAD_RECORDS})


def test_every_problem_of_a_record_is_listed() -> None:
    with pytest.raises(InvalidEvent) as caught:
        validate_raw(_raw(cost_micros=-1, click_id=5, campaign_id=None), now=NOW)
    assert len(caught.value.problems) == 3


def test_committed_json_schemas_match_the_records(tmp_path: Path) -> None:
    write_json_schemas(tmp_path)
    for event_type in EVENT_TYPES:
        name = f"{event_type}.v1.json"
        committed = (JSONSCHEMA_DIR / name).read_text()
        assert committed == (tmp_path / name).read_text(), (
            f"{name} is stale: run `python -m funnelwatch.schemas.contracts`"
        )


def test_schema_requires_fields_without_defaults_only() -> None:
    required = set(json_schema(AdClick)["required"])
    assert {"event_id", "click_id", "cost_micros"} <= required
    assert "device" not in required


# values that JSON Schema validators are known to disagree on, for every field type
_ODD_VALUES: list[object] = [
    None, True, False, 0, -1, 1, 1.0, 0.5, 2**63, -(2**63), float("nan"), "", "x",
    "x" * 201, "x" * 501, "2026-11-29T11:59:00Z", "2026-11-29 11:59:00", "2026-13-45T99:99Z",
    [], {}, ["a"], {"a": 1},
]  # fmt: skip


def _minimal_valid(record: type) -> dict[str, object]:
    by_type = {
        "schema_version": 1,
        "status": "contacted",
        "event_time": "2026-11-29T11:59:00Z",
        "period_start": "2026-11-29T10:00:00Z",
        "period_seconds": 3600,
        "currency": "EUR",
    }
    data: dict[str, object] = {"event_type": record.event_type}  # type: ignore[attr-defined]
    for name in json_schema(record)["required"][1:]:
        data[name] = by_type.get(name, 1 if "micros" in name else "v")
    return data


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_the_quick_check_accepts_nothing_jsonschema_refuses(event_type: str) -> None:
    from funnelwatch.schemas.contracts import _VALIDATORS, _passes_quick_check

    record = EVENT_TYPES[event_type]
    base = _minimal_valid(record)
    assert _passes_quick_check(event_type, base) and _VALIDATORS[event_type].is_valid(base)
    refused_by_both = 0
    for name in [*record._options.fields, "event_type"]:
        for value in _ODD_VALUES:
            data = {**base, name: value}
            full = _VALIDATORS[event_type].is_valid(data)
            if _passes_quick_check(event_type, data):
                assert full, f"{name}={value!r}: quick check accepts what jsonschema refuses"
            refused_by_both += not full
        missing = {k: v for k, v in base.items() if k != name}
        assert _passes_quick_check(event_type, missing) <= _VALIDATORS[event_type].is_valid(missing)
    assert refused_by_both > 50  # the odd values do exercise refusals
