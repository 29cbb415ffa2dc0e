"""JSON Schema of the event contracts, generated from the Faust records, and the
validation every raw record passes before it enters the pipeline.

Invariant: :func:`validate_raw` either returns a well-typed event or raises
:class:`InvalidEvent` listing every problem found; it never raises anything else
for any input bytes.
"""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import fastjsonschema
from jsonschema import Draft202012Validator

from .events import CRM_STATUSES, EVENT_TYPES, SCHEMA_VERSION, SPEND_PERIODS, Event

JSONSCHEMA_DIR = Path(__file__).with_name("jsonschema")

_ID = {"type": "string", "minLength": 1, "maxLength": 200}
_LABEL = {"type": "string", "minLength": 1, "maxLength": 200}
#: most contact hashes one form may carry (an e-mail and a phone or two, with room)
MAX_CONTACT_HASHES = 8
#: a contact hash: its kind (e-mail or phone) and a lower-case hex HMAC-SHA256; the fixed
#: length also keeps out a trailing newline, which ``$`` would let through
CONTACT_HASH: dict[str, Any] = {
    "type": "string",
    "pattern": "^[ep]:[0-9a-f]{64}$",
    "minLength": 66,
    "maxLength": 66,
}
_TIME = {"type": "string", "format": "date-time", "minLength": 10, "maxLength": 40}
#: most one spend report may hold (see the spend_micros constraint)
MAX_SPEND_MICROS = 10**15
# Field constraints beyond the Python type; the records stay plain Faust records.
_CONSTRAINTS: dict[str, dict[str, Any]] = {
    "event_id": _ID,
    "click_id": _ID,
    "lead_id": _ID,
    "campaign_id": _ID,
    "event_time": _TIME,
    "schema_version": {"type": "integer", "const": SCHEMA_VERSION},
    "cost_micros": {"type": "integer", "minimum": 0},
    "deal_value_micros": {"type": "integer", "minimum": 0},
    "status": {"type": "string", "enum": list(CRM_STATUSES)},
    "contact_hashes": {"type": "array", "items": CONTACT_HASH, "maxItems": MAX_CONTACT_HASHES},
    "period_start": _TIME,
    "period_seconds": {"type": "integer", "enum": list(SPEND_PERIODS)},
    # a billion currency units an hour is absurd; the bound also keeps the spend
    # queries' spend x minutes products inside Int64 (see processors/spend)
    "spend_micros": {"type": "integer", "minimum": 0, "maximum": MAX_SPEND_MICROS},
    "currency": {"type": "string", "pattern": "^[A-Z]{3}$", "minLength": 3, "maxLength": 3},
    "clicks": {"type": "integer", "minimum": 0},
    "impressions": {"type": "integer", "minimum": 0},
}
_TYPES: dict[Any, dict[str, Any]] = {
    str: {"type": "string", "maxLength": 500},
    int: {"type": "integer"},
    float: {"type": "number"},
    datetime: {"type": "string", "format": "date-time"},
}


def _field_schema(name: str, annotation: Any) -> tuple[dict[str, Any], bool]:
    """JSON Schema of one field and whether it may be null."""
    nullable = False
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        nullable = len(args) < len(typing.get_args(annotation))
        annotation = args[0]
    schema = dict(_CONSTRAINTS[name] if name in _CONSTRAINTS else _TYPES[annotation])
    if nullable:
        schema = {"anyOf": [schema, {"type": "null"}]}
    return schema, nullable


def json_schema(record: type[Event]) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) producers validate ``record`` events against."""
    hints = record._options.fields
    defaults = record._options.defaults
    properties: dict[str, Any] = {
        "event_type": {"const": record.event_type},
    }
    required = ["event_type"]
    for name in record._options.fields:
        properties[name], _ = _field_schema(name, hints[name])
        if name not in defaults:
            required.append(name)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"funnelwatch/{record.event_type}/v{SCHEMA_VERSION}.json",
        "title": record.__name__,
        "description": (record.__doc__ or "").strip(),
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": True,
    }


def write_json_schemas(directory: Path = JSONSCHEMA_DIR) -> list[Path]:
    """(Re)generate the committed JSON Schema files; returns the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for event_type, record in EVENT_TYPES.items():
        path = directory / f"{event_type}.v{SCHEMA_VERSION}.json"
        path.write_text(json.dumps(json_schema(record), indent=2, sort_keys=True) + "\n")
        written.append(path)
    return written


def _is_int_field(annotation: Any) -> bool:
    return annotation is int or int in typing.get_args(annotation)


_VALIDATORS = {t: Draft202012Validator(json_schema(r)) for t, r in EVENT_TYPES.items()}


def _compiled(record: type[Event]) -> Callable[[Any], Any]:
    # The contracts use only keywords that mean the same in draft 7, which fastjsonschema
    # compiles to plain Python (about 30 times faster than jsonschema on a valid event).
    schema = {k: v for k, v in json_schema(record).items() if k not in ("$schema", "$id")}
    return fastjsonschema.compile(schema)


#: A first check that may only be stricter than the full one (it also checks the
#: date-time format): what it accepts, jsonschema accepts; what it refuses goes to
#: jsonschema, which decides and names every problem.
_QUICK_CHECKS = {t: _compiled(r) for t, r in EVENT_TYPES.items()}
_INT_FIELDS = {
    t: tuple(name for name, annotation in r._options.fields.items() if _is_int_field(annotation))
    for t, r in EVENT_TYPES.items()
}


#: the date-time fields besides event_time (parsed like it, checked in validate_mapping)
_TIME_FIELDS = {
    t: tuple(n for n, a in r._options.fields.items() if a is datetime and n != "event_time")
    for t, r in EVENT_TYPES.items()
}


def _passes_quick_check(event_type: str, data: Any) -> bool:
    try:
        _QUICK_CHECKS[event_type](data)
    except fastjsonschema.JsonSchemaException:
        return False
    return True


#: Every category a rejected record can fall in (the text before the first colon of its
#: first problem). Closed, so the worker can declare each dead-letter series at zero.
REJECT_REASONS = (
    "empty",
    "malformed_json",
    "not_an_object",
    "unknown_event_type",
    "schema",
    "future_event_time",
    "ancient_event_time",
    "absurd_cost",
)


class InvalidEvent(ValueError):
    """A record that is not a valid event; ``problems`` lists each reason."""

    def __init__(self, problems: list[str], event_type: str | None = None) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems
        self.event_type = event_type

    @property
    def reason(self) -> str:
        """Short machine-friendly category of the first problem (for metrics)."""
        return self.problems[0].split(":", 1)[0]


@dataclass(frozen=True)
class Limits:
    """Plausibility limits that the JSON Schema cannot express."""

    max_future_skew: timedelta = timedelta(minutes=5)
    max_cost_micros: int = 10_000_000_000
    #: earlier events are absurd, and ClickHouse's DateTime cannot hold times before 1970
    min_event_time: datetime = datetime(2000, 1, 1, tzinfo=UTC)
    #: events older than this are refused: the rolling recompute spans every minute from
    #: the oldest changed one to the newest, so one event from years ago costs gigabytes
    max_age: timedelta = timedelta(days=30)


def parse_event_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError("event_time needs a time zone (e.g. a trailing Z)")
    return parsed.astimezone(UTC)


def validate_mapping(data: Any, limits: Limits = Limits(), now: datetime | None = None) -> Event:
    """Validate one decoded JSON value; return the typed event or raise InvalidEvent."""
    if not isinstance(data, Mapping):
        raise InvalidEvent([f"not_an_object: expected a JSON object, got {type(data).__name__}"])
    event_type = data.get("event_type")
    record = EVENT_TYPES.get(event_type) if isinstance(event_type, str) else None
    if record is None or not isinstance(event_type, str):
        raise InvalidEvent(
            [f"unknown_event_type: {event_type!r} is not one of {sorted(EVENT_TYPES)}"]
        )
    problems = (
        []
        if _passes_quick_check(event_type, data)
        else [
            f"schema: {'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
            for e in sorted(_VALIDATORS[event_type].iter_errors(data), key=lambda e: e.path)
        ]
    )
    event_time: datetime | None = None
    if isinstance(data.get("event_time"), str):
        try:
            event_time = parse_event_time(data["event_time"])
        except (ValueError, OverflowError) as exc:  # overflow: year 9999 at -23:59, say
            problems.append(f"schema: event_time: {exc}")
    if event_time is not None:
        now = now or datetime.now(UTC)
        if event_time > now + limits.max_future_skew:
            problems.append(
                f"future_event_time: {event_time.isoformat()} is after {now.isoformat()}"
            )
        oldest = max(limits.min_event_time, now - limits.max_age)
        if event_time < oldest:
            problems.append(
                f"ancient_event_time: {event_time.isoformat()} is before {oldest.isoformat()}"
            )
    times = {"event_time": event_time}
    for name in _TIME_FIELDS[event_type]:
        if isinstance(data.get(name), str):
            try:
                times[name] = parse_event_time(data[name])
            except (ValueError, OverflowError) as exc:
                problems.append(f"schema: {name}: {exc}")
    period_start = times.get("period_start")
    if period_start is not None:
        problems.extend(period_problems(period_start, event_time, limits))
    for name in _INT_FIELDS[event_type]:
        value = data.get(name)
        # JSON Schema counts 1.0 as an integer and has no 64-bit bound; ClickHouse's
        # Int64/UInt64 columns take neither a float nor a larger number.
        if isinstance(value, float):
            problems.append(f"schema: {name}: {value!r} is not an integer")
        elif isinstance(value, int) and abs(value) >= 2**63:
            problems.append(f"schema: {name}: {value} does not fit in 64 bits")
    cost = data.get("cost_micros")
    if isinstance(cost, int) and cost > limits.max_cost_micros:
        problems.append(f"absurd_cost: cost_micros {cost} exceeds {limits.max_cost_micros}")
    if problems:
        raise InvalidEvent(problems, event_type)
    fields = {k: data[k] for k in record._options.fields if k in data}
    fields.update(times)
    return record(**fields)


def period_problems(
    period_start: datetime, event_time: datetime | None, limits: Limits
) -> list[str]:
    """What is wrong with a spend report's ``period_start`` (empty: nothing)."""
    problems = []
    if period_start.second or period_start.microsecond:
        problems.append(f"schema: period_start: {period_start.isoformat()} is not a whole minute")
    if period_start < limits.min_event_time:
        problems.append(
            f"ancient_event_time: period_start {period_start.isoformat()} is before "
            f"{limits.min_event_time.isoformat()}"
        )
    if event_time is not None and period_start > event_time:
        problems.append(
            f"schema: period_start: {period_start.isoformat()} is after the report's "
            f"event_time {event_time.isoformat()}"
        )
    return problems


def validate_raw(
    raw: bytes | None, limits: Limits = Limits(), now: datetime | None = None
) -> Event:
    """Decode and validate one Kafka record value."""
    if raw is None:
        raise InvalidEvent(["empty: the record has no value"])
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidEvent([f"malformed_json: {exc}"]) from None
    except ValueError as exc:  # an integer of over 4,300 digits
        raise InvalidEvent([f"malformed_json: {exc}"]) from None
    except RecursionError:
        raise InvalidEvent(["malformed_json: nested too deeply"]) from None
    return validate_mapping(data, limits, now)


def to_json_dict(event: Event) -> dict[str, Any]:
    """The wire form of an event (what producers send)."""
    out: dict[str, Any] = {"event_type": event.event_type}
    for name in event._options.fields:
        value = getattr(event, name)
        out[name] = (
            value.isoformat().replace("+00:00", "Z") if isinstance(value, datetime) else value
        )
    return out


if __name__ == "__main__":
    for written in write_json_schemas():
        print(f"wrote {written.name}")
