"""What a rejected record carries to the dead-letter topic."""

from __future__ import annotations

import pytest

from funnelwatch.processors.source.deadletter import MAX_ERROR_CHARS, dead_letter_headers
from funnelwatch.schemas.contracts import InvalidEvent, validate_raw


def reject(raw: bytes) -> InvalidEvent:
    with pytest.raises(InvalidEvent) as caught:
        validate_raw(raw)
    return caught.value


def test_headers_name_the_reason_the_error_and_the_records_origin() -> None:
    exc = reject(b"{not json")
    headers = dict(dead_letter_headers(exc, "fw.ad-clicks", 3, 1234))
    assert headers == {
        "reason": b"malformed_json",
        "error": str(exc).encode(),
        "source_topic": b"fw.ad-clicks",
        "source_partition": b"3",
        "source_offset": b"1234",
    }


def test_a_record_with_a_thousand_problems_keeps_a_bounded_error_header() -> None:
    exc = InvalidEvent([f"schema: problem {i} " + "x" * 50 for i in range(1000)])
    headers = dict(dead_letter_headers(exc, "t", 0, 0))
    assert len(str(exc)) > MAX_ERROR_CHARS
    assert headers["error"] == str(exc)[:MAX_ERROR_CHARS].encode()
    assert headers["reason"] == b"schema"
