"""Malformed records: each kind is rejected by the real validator for the reason recorded."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from funnelwatch.schemas.contracts import InvalidEvent, validate_raw
from funnelwatch.streams.simulator.faults import (
    MALFORMED_KINDS,
    TEN_YEARS_MS,
    MalformedKind,
    malformed_record,
)
from funnelwatch.streams.simulator.model import to_ms

NOW = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("kind", MALFORMED_KINDS, ids=lambda k: k.name)
def test_every_malformed_kind_is_rejected_by_the_validator_with_expected_reason(
    kind: MalformedKind,
) -> None:
    record = malformed_record(kind, f"bad-test-{kind.name}", to_ms(NOW), to_ms(NOW) + TEN_YEARS_MS)
    with pytest.raises(InvalidEvent) as caught:
        validate_raw(record.value, now=NOW)
    assert caught.value.reason == kind.reason == record.reason
    assert not record.valid and not record.duplicate


@pytest.mark.parametrize("kind", MALFORMED_KINDS, ids=lambda k: k.name)
def test_malformed_record_carries_its_marker_as_key_and_in_its_bytes(kind: MalformedKind) -> None:
    marker = f"bad-marker-{kind.name}"
    record = malformed_record(kind, marker, to_ms(NOW), to_ms(NOW) + TEN_YEARS_MS)
    assert record.key == marker.encode() and record.event_id == marker
    assert marker.encode() in record.value
    assert record.topic_key == kind.topic_key


def test_malformed_kinds_cover_every_validator_category() -> None:
    assert {k.reason for k in MALFORMED_KINDS} == {
        "malformed_json",
        "not_an_object",
        "unknown_event_type",
        "schema",
        "future_event_time",
        "absurd_cost",
    }
    assert len({k.name for k in MALFORMED_KINDS}) == len(MALFORMED_KINDS)


def test_binary_garbage_is_not_utf8() -> None:
    kind = next(k for k in MALFORMED_KINDS if k.name == "binary_garbage")
    value = malformed_record(kind, "bad-x", 0, 0).value
    with pytest.raises(UnicodeDecodeError):
        value.decode("utf-8")


def test_malformed_values_do_not_depend_on_the_clock() -> None:
    for kind in MALFORMED_KINDS:
        first = malformed_record(kind, "m", 1_700_000_000_000, 2_000_000_000_000)
        assert first == malformed_record(kind, "m", 1_700_000_000_000, 2_000_000_000_000)
