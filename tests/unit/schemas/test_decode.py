"""The msgspec decoder gives the verdicts of validate_raw: same accepts, values and problems."""

from __future__ import annotations

import gc
import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from funnelwatch.schemas.contracts import InvalidEvent, Limits, json_schema, validate_raw
from funnelwatch.schemas.decode import STRUCTS, EventDecoder, EventStruct, event_ms
from funnelwatch.schemas.events import EVENT_TYPES
from funnelwatch.streams.simulator.generator import generate
from funnelwatch.streams.simulator.model import SimulationConfig, default_campaigns
from tests.unit.schemas.test_contracts import (
    _ODD_VALUES,
    BAD_RECORDS,
    CLICK,
    NOW,
    _minimal_valid,
    _raw,
)

FULL: dict[str, dict[str, Any]] = {
    "ad_click": {**CLICK, "device": "mobile", "geo": "DE"},
    "form_submission": {
        "event_type": "form_submission",
        "event_id": "e2",
        "event_time": "2026-11-29T11:58:00.250Z",
        "schema_version": 1,
        "lead_id": "l1",
        "form_id": "f1",
        "form_type": "demo",
        "click_id": "k1",
        "utm_source": "google",
        "utm_medium": "cpc",
        "utm_campaign": "cmp",
        "utm_content": "München ✓",
        "utm_term": None,
        "device": "desktop",
        "geo": "DE",
    },
    "crm_event": {
        "event_type": "crm_event",
        "event_id": "e3",
        "event_time": "2026-11-29T11:57:00Z",
        "schema_version": 1,
        "lead_id": "l1",
        "status": "won",
        "deal_value_micros": 5_000_000_000,
    },
    "ad_spend": {
        "event_type": "ad_spend",
        "event_id": "s1",
        "event_time": "2026-11-29T11:30:00Z",
        "schema_version": 1,
        "platform": "google_ads",
        "account_id": "123-456-7890",
        "campaign_id": "cmp",
        "period_start": "2026-11-28T05:00:00Z",
        "period_seconds": 86400,
        "spend_micros": 1_234_560_000,
        "currency": "USD",
        "ad_group_id": "ag-1",
        "ad_id": "",
        "clicks": 812,
        "impressions": 20_417,
    },
}


def _encode(data: object) -> bytes:
    return json.dumps(data).encode()


def _values(event: Any) -> dict[str, str]:
    """Every record field of ``event`` (and its type), by repr: 1, 1.0 and True differ, and
    so do a UTC and a +01:00 datetime of the same instant."""
    fields = EVENT_TYPES[event.event_type]._options.fields
    return {"(type)": event.event_type} | {name: repr(getattr(event, name)) for name in fields}


def _outcome(call: Any) -> object:
    try:
        return call()
    except Exception as exc:  # any exception is a verdict to compare
        return exc


def _assert_same_verdict(
    raw: bytes | None, limits: Limits | None = None, now: datetime = NOW
) -> bool:
    """Asserts decode and validate_raw agree on ``raw``; returns whether it is accepted."""
    limits = limits or Limits()
    expected = _outcome(lambda: validate_raw(raw, limits, now=now))
    got = _outcome(lambda: EventDecoder(limits).decode(raw, now.timestamp()))
    if isinstance(expected, Exception):
        assert type(got) is type(expected), f"{raw!r}: {got!r} instead of {expected!r}"
        assert str(got) == str(expected)
        if isinstance(expected, InvalidEvent):
            assert isinstance(got, InvalidEvent)
            assert (got.problems, got.reason, got.event_type) == (
                expected.problems,
                expected.reason,
                expected.event_type,
            )
        return False
    assert isinstance(got, EventStruct), f"{raw!r}: {got!r} instead of {expected!r}"
    assert _values(got) == _values(expected)
    return True


def _decodes_on_the_fast_path(
    raw: bytes, limits: Limits | None = None, now: datetime = NOW
) -> bool:
    """Whether the decoder accepts ``raw`` without asking validate_raw."""

    def refuse(_raw: bytes | None) -> EventStruct:
        raise AssertionError("slow path")

    fast = EventDecoder(limits or Limits())
    fast._validated = refuse
    return isinstance(_outcome(lambda: fast.decode(raw, now.timestamp())), EventStruct)


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_a_valid_event_decodes_to_the_values_of_its_validated_record(event_type: str) -> None:
    minimal = _minimal_valid(EVENT_TYPES[event_type])
    for data in (
        minimal,
        FULL[event_type],
        {**FULL[event_type], "event_time": "2026-11-29T12:59:00+01:00", "extra": {"a": [1]}},
    ):
        assert _assert_same_verdict(_encode(data))
        assert _decodes_on_the_fast_path(_encode(data))
    event = EventDecoder().decode(_encode(minimal), NOW.timestamp())
    assert type(event) is STRUCTS[event_type]
    assert event.event_type == event_type
    assert event.event_time == datetime(2026, 11, 29, 11, 59, tzinfo=UTC)
    assert event.event_time.tzinfo is UTC
    for name, default in EVENT_TYPES[event_type]._options.defaults.items():
        assert getattr(event, name) == default


def test_an_offset_event_time_becomes_the_same_instant_in_utc() -> None:
    event = EventDecoder().decode(_raw(event_time="2026-11-29T12:59:00.5+01:00"), NOW.timestamp())
    assert repr(event.event_time) == repr(datetime(2026, 11, 29, 11, 59, 0, 500000, tzinfo=UTC))
    assert event.device == "(unknown)" and event.geo == "(unknown)"
    assert event.cost_micros == 1_250_000


def test_structs_have_exactly_the_fields_and_defaults_of_the_records() -> None:
    assert set(STRUCTS) == set(EVENT_TYPES)
    for event_type, struct in STRUCTS.items():
        record = EVENT_TYPES[event_type]
        probe = () if "cost_micros" in record._options.fields else ("_cost_micros",)
        assert struct.__struct_fields__ == (*record._options.fields, *probe)
        assert struct.__name__ == record.__name__
        assert struct.event_type == event_type
        defaults = dict(
            zip(struct.__struct_fields__[::-1], struct.__struct_defaults__[::-1], strict=False)
        )
        assert defaults == {**record._options.defaults, **dict.fromkeys(probe)}
        required = {f for f in record._options.fields if f not in defaults}
        assert required == set(json_schema(record)["required"]) - {"event_type"}


def test_decoded_events_are_immutable_and_not_tracked_by_the_gc() -> None:
    event = EventDecoder().decode(_raw(), NOW.timestamp())
    with pytest.raises(AttributeError):
        event.event_id = "other"
    assert not gc.is_tracked(event)
    assert hash(event) == hash(EventDecoder().decode(_raw(), NOW.timestamp()))


@pytest.mark.parametrize(("raw", "reason"), BAD_RECORDS)
def test_bad_records_get_the_reason_and_problems_of_validate_raw(
    raw: bytes | None, reason: str
) -> None:
    with pytest.raises(InvalidEvent) as caught:
        EventDecoder().decode(raw, NOW.timestamp())
    assert caught.value.reason == reason
    assert not _assert_same_verdict(raw)


def test_every_problem_of_a_record_is_listed_as_validate_raw_lists_them() -> None:
    raw = _raw(cost_micros=-1, click_id=5, campaign_id=None, event_time="2036-01-01T00:00:00Z")
    with pytest.raises(InvalidEvent) as caught:
        EventDecoder().decode(raw, NOW.timestamp())
    assert len(caught.value.problems) == 4
    assert not _assert_same_verdict(raw)


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"   ",
        b"\xff\xfe",
        b"\xed\xa0\x80",
        _raw()[:-1],
        _raw()[:40],
        _raw() + b"{}",
        _raw() + b"\x00",
        b"[1, 2]",
        b'"ad_click"',
        b"1",
        b"null",
        b"{}",
        b'{"event_type": 5}',
        b'{"event_type": null}',
        _raw().replace(b'"k1"', b'"k1\xff"'),
        _raw().replace(b'"google"', b'"\xc0\x80"'),
        _raw().replace(b'"google"', b'"\xf4\x90\x80\x80"'),
        _raw()[:-1] + b', "unknown": "\xe0\x80\x80"}',
        _raw()[:-1] + b', "unknown": "\x01"}',
        _raw()[:-1] + b', "unknown": [1,]}',
        _raw()[:-1] + b', "unknown": 01}',
        _raw()[:-1] + b",}",
        _raw().replace(b": ", b":\x0b"),
    ],
)
def test_malformed_bytes_get_the_reason_and_problems_of_validate_raw(raw: bytes) -> None:
    assert not _assert_same_verdict(raw)


_MORE_ODD_VALUES: list[object] = [
    2**63 - 1, -(2**63 - 1), 2**63, -(2**63) - 1, 2**64, -1, 1e3, 1e400, float("inf"),
    10**10, 10**10 + 1, "1", "won", "WON", " won", "lost", "x" * 200, "x" * 500, "ü" * 200,
    "ü" * 201, "😀" * 200, "😀" * 201, "\ud800", "\ud83d\ude00", "\x00", "a\u2028b",
    "2026-11-29T11:59:00+0000", "2026-11-29T11:59:00.123456789Z", "2026-11-29T11:59:00z",
    "2026-11-29t11:59:00Z", "2026-11-29 11:59:00Z", "2026-11-29T11:59:00.9999999Z",
    "2026-11-29T11:59:00,5Z", "2026-11-29T23:59:60Z", "2026-11-29T11:59:60Z",
    "2026-11-29T11:59:00.Z", "2026-11-29T11:59Z", "2026-11-29T11Z", "20261129T115900Z",
    "2026-W48-7T11:59:00Z", "2026-11-29T11:59:00+01:00:30", "2026-11-29T11:59:00-00:00",
    "2026-11-29T11:59:00+23:59", "2026-11-29T11:59:00+24:00", "2026-11-29x11:59:00Z",
    "2026-11-29T11:59:00.000000000000000000001Z", "2026-11-29T11:59:00.00000000000000000001Z",
    "2026-11-29", "2026-11-29Z", "0001-01-01T00:30:00+01:00", "9999-12-31T23:30:00-01:00",
    "1999-12-31T23:59:59.999999Z", "2000-01-01T00:00:00Z", "2026-11-29T12:05:00Z",
    "2026-11-29T12:05:00.000001Z", "\uff12\uff10\uff12\uff16-11-29T11:59:00Z", [1], {"a": None},
]  # fmt: skip


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_the_decoder_agrees_with_validate_raw_on_every_odd_value_of_every_field(
    event_type: str,
) -> None:
    record = EVENT_TYPES[event_type]
    limits = Limits(max_age=timedelta(days=365 * 30))  # lets min_event_time decide
    base = _minimal_valid(record)
    accepted = refused = 0
    for name in [*record._options.fields, "event_type", "cost_micros", "unknown"]:
        for value in [*_ODD_VALUES, *_MORE_ODD_VALUES]:
            raw = json.dumps({**base, name: value}).encode()
            for lim in (Limits(), limits):
                if _assert_same_verdict(raw, lim):
                    accepted += 1
                else:
                    refused += 1
        missing = {k: v for k, v in base.items() if k != name}
        _assert_same_verdict(_encode(missing))
    assert accepted > 100 and refused > 300  # both verdicts are exercised


def test_an_unknown_cost_key_is_checked_against_the_limit_in_every_event_type() -> None:
    for event_type in ("form_submission", "crm_event"):
        base = FULL[event_type]
        assert not _assert_same_verdict(_encode({**base, "cost_micros": 10**12}))
        assert not _assert_same_verdict(_encode(base)[:-1] + b', "cost\\u005fmicros": 10000000001}')
        for harmless in (10**10, -5, None, "1e12", 1e12, True, [10**12]):
            assert _assert_same_verdict(_encode({**base, "cost_micros": harmless}))
        assert _decodes_on_the_fast_path(_encode({**base, "cost_micros": 3}))


@pytest.mark.parametrize(
    "raw",
    [
        b"\xef\xbb\xbf" + _raw(),  # a UTF-8 byte order mark
        _raw().decode().encode("utf-16"),
        _raw().decode().encode("utf-32-le"),
        _raw()[:-1] + b', "unknown": NaN}',
        _raw()[:-1] + b', "unknown": -Infinity}',
        _raw(geo="\ud800"),  # json.dumps escapes a lone surrogate, json.loads takes it
        _raw()[:-1] + b', "unknown": "\xed\xa0\x80"}',  # a UTF-8 encoded surrogate
        _raw()[:-1] + b', "unknown": ' + b"[" * 600 + b"]" * 600 + b"}",
        _raw()[:-1] + b', "unknown": "' + b"{" * 1100 + b'"}',
    ],
)
def test_what_only_validate_raw_accepts_comes_back_as_the_equivalent_struct(
    raw: bytes,
) -> None:
    assert not _decodes_on_the_fast_path(raw)
    assert _assert_same_verdict(raw)


@pytest.mark.parametrize(
    "raw",
    [
        _raw()[:-1] + b', "unknown": 1' + b"0" * 5000 + b"}",  # json.loads: ValueError
        _raw()[:-1] + b', "unknown": ' + b"[" * 3000 + b"]" * 3000 + b"}",  # RecursionError
        _raw()[:-1] + b', "unknown": "' + b"x" * 5000 + b'"}',
        _raw(event_time="0001-01-01T00:30:00+01:00"),  # OverflowError in parse_event_time
    ],
)
def test_large_inputs_and_errors_outside_invalid_event_match_validate_raw(raw: bytes) -> None:
    _assert_same_verdict(raw)


def test_duplicate_keys_mean_the_last_value_as_in_json_loads() -> None:
    body = _raw()[1:-1]
    for extra in (
        b'"geo": "FR", "geo": "IT"',
        b'"cost_micros": -1, "cost_micros": 7',
        b'"cost_micros": 7, "cost_micros": -1',
        b'"event_type": "crm_event", "event_type": "ad_click"',
        b'"event_type": "ad_click", "event_type": "crm_event"',
        b'"event_time": "2036-01-01T00:00:00Z", "event_time": "2026-11-29T11:00:00Z"',
    ):
        _assert_same_verdict(b"{" + body + b", " + extra + b"}")
        _assert_same_verdict(b"{" + extra + b", " + body + b"}")


def test_escaped_keys_and_values_decode_as_in_json_loads() -> None:
    raw = _raw()[:-1] + b', "\\u0067eo": "\\u00fc\\ud83d\\ude00\\n\\/"}'
    assert _assert_same_verdict(raw)
    assert EventDecoder().decode(raw, NOW.timestamp()).geo == "ü😀\n/"


def _at(moment: datetime) -> bytes:
    return _raw(event_time=moment.isoformat().replace("+00:00", "Z"))


@pytest.mark.parametrize("now", [NOW, NOW + timedelta(microseconds=123_457)])
def test_the_time_limits_hold_to_the_microsecond_of_now(now: datetime) -> None:
    limits = Limits()
    oldest = now - limits.max_age
    edges = [
        (now + limits.max_future_skew, True),
        (now + limits.max_future_skew + timedelta(milliseconds=1), False),
        (now + limits.max_future_skew + timedelta(microseconds=1), False),
        (oldest, True),
        (oldest - timedelta(milliseconds=1), False),
        (oldest - timedelta(microseconds=1), False),
    ]
    for moment, accepted in edges:
        assert _assert_same_verdict(_at(moment), limits, now) is accepted, moment
        assert _decodes_on_the_fast_path(_at(moment), limits, now) is accepted, moment
    with pytest.raises(InvalidEvent) as caught:
        EventDecoder().decode(_at(edges[1][0]), now.timestamp())
    assert caught.value.reason == "future_event_time"
    with pytest.raises(InvalidEvent) as caught:
        EventDecoder().decode(_at(edges[4][0]), now.timestamp())
    assert caught.value.reason == "ancient_event_time"


def test_min_event_time_holds_when_the_age_limit_is_longer() -> None:
    limits = Limits(max_age=timedelta(days=365 * 40))
    assert _assert_same_verdict(_at(limits.min_event_time), limits)
    assert _decodes_on_the_fast_path(_at(limits.min_event_time), limits)
    assert not _assert_same_verdict(_at(limits.min_event_time - timedelta(milliseconds=1)), limits)


def test_the_cost_limit_takes_exactly_max_cost_micros() -> None:
    for limits in (Limits(), Limits(max_cost_micros=500), Limits(max_cost_micros=0)):
        limit = limits.max_cost_micros
        assert _assert_same_verdict(_raw(cost_micros=limit), limits)
        assert _decodes_on_the_fast_path(_raw(cost_micros=limit), limits)
        assert not _assert_same_verdict(_raw(cost_micros=limit + 1), limits)
        with pytest.raises(InvalidEvent) as caught:
            EventDecoder(limits).decode(_raw(cost_micros=limit + 1), NOW.timestamp())
        assert caught.value.reason == "absurd_cost"


def test_a_later_now_moves_the_limits() -> None:
    decoder = EventDecoder()
    decoder.decode(_raw(), NOW.timestamp())
    later = NOW + timedelta(days=31)
    with pytest.raises(InvalidEvent) as caught:
        decoder.decode(_raw(), later.timestamp())
    assert caught.value.reason == "ancient_event_time"
    assert decoder.decode(_raw(), NOW.timestamp()).event_id == "e1"


def test_limits_that_cannot_be_evaluated_give_the_verdicts_of_validate_raw() -> None:
    naive = Limits(min_event_time=datetime(2000, 1, 1))
    for raw in (None, b"[]", _raw(), _raw(event_time="2026-11-29T11:00:00")):
        _assert_same_verdict(raw, naive)


_FUZZ_BYTES = b' {}[]",:\\0123456789-+.eEZTtz:nultrfasNI\x00\x1f\x7f\xc3\xa9\xff\xed\xa0u'


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_mutated_bytes_get_the_verdicts_of_validate_raw(event_type: str) -> None:
    rng = random.Random(f"decode-{event_type}")
    original = _encode(FULL[event_type])
    accepted = 0
    for _ in range(3000):
        raw = bytearray(original)
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(raw))
            op = rng.random()
            if op < 0.4:
                raw[at] = rng.choice(_FUZZ_BYTES)
            elif op < 0.7:
                raw.insert(at, rng.choice(_FUZZ_BYTES))
            elif op < 0.9:
                del raw[at]
            else:
                raw[at:at] = raw[rng.randrange(len(raw)) :][: rng.randint(1, 12)]
        accepted += _assert_same_verdict(bytes(raw))
    assert accepted > 100


def test_valid_simulator_events_all_take_the_fast_path() -> None:
    config = SimulationConfig(
        seed=3,
        start=NOW - timedelta(hours=2),
        end=NOW,
        campaigns=default_campaigns(),
        malformed_rate=0.0,
        max_records=1500,
    )
    kinds = set()
    for sent in generate(config):
        assert _decodes_on_the_fast_path(sent.value), sent.value
        assert _assert_same_verdict(sent.value)
        kinds.add(sent.topic_key)
    assert kinds == {"clicks", "forms", "crm"}


def test_simulated_malformed_records_get_their_reason() -> None:
    config = SimulationConfig(
        seed=4,
        start=NOW - timedelta(hours=1),
        end=NOW,
        campaigns=default_campaigns(),
        malformed_rate=0.2,
        max_records=1500,
    )
    decoder, bad = EventDecoder(), 0
    for sent in generate(config):
        if not sent.valid:
            bad += 1
            with pytest.raises(InvalidEvent) as caught:
                decoder.decode(sent.value, NOW.timestamp())
            assert caught.value.reason == sent.reason
    assert bad > 50


def test_event_ms_is_exact_where_the_float_timestamp_is_not() -> None:
    rng = random.Random(7)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    decoder = EventDecoder(Limits(max_age=timedelta(days=365 * 40)))
    float_misses = 0
    for _ in range(2000):
        ms = rng.randrange(946_684_800_000, 1_795_000_000_000)
        event = decoder.decode(_at(epoch + timedelta(milliseconds=ms)), NOW.timestamp())
        assert event_ms(event) == ms
        float_misses += int(event.event_time.timestamp() * 1000) != ms
    assert float_misses > 0
    offset = decoder.decode(_raw(event_time="2026-11-29T12:59:00.0019+01:00"), NOW.timestamp())
    assert event_ms(offset) == 1_795_953_540_001  # 2026-11-29T11:59:00.001Z: the floor


@pytest.mark.parametrize(
    "period_start",
    [
        "2026-11-29T10:00:30Z",  # not a whole minute
        "2026-11-29T10:00:00.001Z",
        "2026-11-29T11:31:00Z",  # after the report itself
        "1999-12-31T00:00:00Z",  # before min_event_time
        "2026-11-29T10:00:00",  # no zone
    ],
)
def test_a_spend_period_is_a_whole_minute_before_its_report(period_start: str) -> None:
    raw = _encode({**FULL["ad_spend"], "period_start": period_start})
    assert not _assert_same_verdict(raw)
    with pytest.raises(InvalidEvent):
        EventDecoder().decode(raw, NOW.timestamp())


def test_a_spend_period_in_a_zone_decodes_to_its_utc_minute() -> None:
    raw = _encode({**FULL["ad_spend"], "period_start": "2026-11-28T00:00:00-05:00"})
    event = EventDecoder().decode(raw, NOW.timestamp())
    assert event.period_start == datetime(2026, 11, 28, 5, tzinfo=UTC)
    assert _decodes_on_the_fast_path(raw)
