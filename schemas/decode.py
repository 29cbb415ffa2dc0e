"""One-pass decode and validation of raw event values for the batch hot path (msgspec).

Invariant: ``EventDecoder(limits).decode(raw, now)`` gives the same verdict as
``validate_raw(raw, limits, now=datetime.fromtimestamp(now, UTC))`` for every input:
it accepts exactly what validate_raw accepts, returning a struct with the attribute
values of the record validate_raw returns, and otherwise raises exactly what validate_raw
raises (the same :class:`InvalidEvent` problems and reason). This holds by construction:
the msgspec fast path may only be *stricter* than validate_raw. Whatever it does not
accept goes to validate_raw itself, which decides and names the problems; an event
validate_raw then accepts is returned as the equivalent struct.

What keeps the fast path from accepting anything validate_raw refuses:

- the structs are generated from :func:`~.contracts.json_schema` of the Faust records in
  ``EVENT_TYPES`` (one definition of each contract), keyword by keyword; a keyword
  without an exact msgspec equivalent fails at import;
- ints are bounded to what validate_mapping lets through (``|value| < 2**63``) and JSON
  floats never decode into them;
- the date-time fields (``event_time``, a spend report's ``period_start``) are parsed by
  :func:`~.contracts.parse_event_time` itself, and ``period_start`` is checked by
  :func:`~.contracts.period_problems`, as validate_mapping does: msgspec's own
  datetime parser would take a lowercase ``z``, has no length limit and rounds 7+ digit
  fractions where ``fromisoformat`` truncates;
- the time and cost limits are compared with the very datetimes validate_mapping derives
  from ``now``;
- validate_mapping checks a ``cost_micros`` key against the cost limit in *every* event
  type, so the types without that field decode it into a private probe field;
- msgspec skips unknown fields without the checks json.loads makes: non-ASCII input must
  be strict UTF-8, and input long enough to hold an int literal over
  ``sys.get_int_max_str_digits()`` or to nest close to json.loads's recursion limit goes
  to the slow path.
"""

from __future__ import annotations

import sys
import typing
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, cast

import msgspec
from msgspec.structs import force_setattr

from .contracts import Limits, json_schema, parse_event_time, period_problems, validate_raw
from .events import EVENT_TYPES, Event

_INT_MAX = 2**63 - 1  # validate_mapping refuses abs(value) >= 2**63
#: validate_mapping compares this key with ``max_cost_micros`` whatever the event type
_COST = "cost_micros"
_COST_PROBE = "_cost_micros"
#: Input up to this size nests at most 511 levels, far below the ~990 at which json.loads
#: raises RecursionError (msgspec's own limit lies a few levels deeper, so a deeper input
#: in an unknown field could pass here and fail there).
_PLAIN_BYTES = 1024
#: Larger input stays on the fast path only with at most this many brackets.
_MAX_BRACKETS = 64
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class EventStruct(msgspec.Struct, frozen=True, gc=False):
    """Base of the generated event structs, one subclass per event type (:data:`STRUCTS`).

    A subclass has the fields of its Faust record, with the same names, defaults and
    values (``event_time`` an aware datetime in UTC), the record's ``event_type`` as class
    attribute and JSON tag, and — for types without ``cost_micros`` — a private
    ``_cost_micros`` field holding such an unknown key's value (None when absent).
    Frozen; ``gc=False`` is safe as the fields hold only str, int, None, datetime and
    lists of str, none of which can reach back to the struct.
    """

    #: the wire name of the event (JSON tag), as on the Faust record
    event_type: ClassVar[str]
    #: the attribute holding the value validate_mapping compares with max_cost_micros
    _cost_field: ClassVar[str]

    if TYPE_CHECKING:
        # the fields are generated at import; statically, any attribute may exist
        def __getattr__(self, name: str) -> Any: ...

    #: the date-time fields (``event_time`` first): decoded as strings, parsed here
    _times: ClassVar[tuple[str, ...]]

    def __post_init__(self) -> None:
        for name in self._times:
            value = getattr(self, name)
            if type(value) is str:  # decoded: the wire string, of the schema's length
                force_setattr(self, name, parse_event_time(value))


def _unsupported(name: str, schema: Mapping[str, Any]) -> TypeError:
    return TypeError(f"{name}: no exact msgspec equivalent of {dict(schema)}")


def _is_json_type(value: Any, kind: Any) -> bool:
    if kind == "string":
        return isinstance(value, str)
    if kind == "integer":
        return type(value) is int and abs(value) <= _INT_MAX
    return False


def _annotation(name: str, schema: Mapping[str, Any], times: tuple[str, ...]) -> Any:
    """The msgspec type of one property: it accepts a subset of what ``schema`` (and the
    checks validate_mapping adds) accept, and decodes to the values json.loads gives."""
    if "anyOf" in schema:
        options = schema["anyOf"]
        if set(schema) != {"anyOf"} or len(options) != 2 or options[1] != {"type": "null"}:
            raise _unsupported(name, schema)
        return _annotation(name, options[0], times) | None
    kind = schema.get("type")
    keywords = set(schema) - {"type"}
    if keywords & {"const", "enum"}:
        values = [schema["const"]] if "const" in schema else list(schema["enum"])
        if len(keywords) != 1 or not values or not all(_is_json_type(v, kind) for v in values):
            raise _unsupported(name, schema)
        return Literal.__getitem__(tuple(values))
    if kind == "string":
        # validate_mapping parses the record's datetime fields, and only those (in
        # __post_init__ here)
        is_time = schema.get("format") == "date-time"
        if keywords - {"minLength", "maxLength", "format", "pattern"} or is_time != (name in times):
            raise _unsupported(name, schema)
        # msgspec matches a pattern with re.search, as jsonschema and fastjsonschema do
        string = msgspec.Meta(
            min_length=schema.get("minLength"),
            max_length=schema.get("maxLength"),
            pattern=schema.get("pattern"),
        )
        return Annotated[str, string]
    if kind == "array":
        # a list, as json.loads gives: the record's value and the struct's compare equal
        if keywords - {"items", "maxItems"} or "items" not in schema:
            raise _unsupported(name, schema)
        items = _annotation(name, schema["items"], times)
        return Annotated[list[items], msgspec.Meta(max_length=schema.get("maxItems"))]  # type: ignore[valid-type]
    if kind == "integer":
        minimum = schema.get("minimum", -_INT_MAX)
        maximum = schema.get("maximum", _INT_MAX)
        if (
            keywords - {"minimum", "maximum"}
            or type(minimum) is not int
            or type(maximum) is not int
        ):
            raise _unsupported(name, schema)
        bounds = msgspec.Meta(ge=max(minimum, -_INT_MAX), le=min(maximum, _INT_MAX))
        return Annotated[int, bounds]
    # notably "number": msgspec's float turns a JSON 1 into 1.0 where json.loads keeps 1
    raise _unsupported(name, schema)


def _struct(record: type[Event]) -> type[EventStruct]:
    schema = json_schema(record)
    properties = dict(schema["properties"])
    if properties.pop("event_type") != {"const": record.event_type}:
        raise _unsupported("event_type", schema)
    required = set(schema["required"])
    defaults = record._options.defaults
    times = tuple(n for n, a in record._options.fields.items() if a is datetime)
    fields: list[tuple[str, Any] | tuple[str, Any, Any]] = [
        (name, _annotation(name, prop, times))
        if name in required
        else (name, _annotation(name, prop, times), defaults[name])
        for name, prop in properties.items()
    ]
    rename = None
    if _COST not in properties:
        fields.append((_COST_PROBE, int | None, None))
        rename = {_COST_PROBE: _COST}
    namespace = {
        "event_type": record.event_type,
        "_cost_field": _COST if _COST in properties else _COST_PROBE,
        "_times": times,
        "__doc__": record.__doc__,
    }
    struct = msgspec.defstruct(
        record.__name__,
        fields,
        bases=(EventStruct,),
        module=__name__,
        namespace=namespace,
        tag_field="event_type",
        tag=record.event_type,
        rename=rename,
        kw_only=True,
    )
    return cast(type[EventStruct], struct)


#: The struct of each event type, keyed like ``EVENT_TYPES``; each is named like its record.
STRUCTS: dict[str, type[EventStruct]] = {t: _struct(r) for t, r in EVENT_TYPES.items()}
_UNION: Any = typing.Union.__getitem__(tuple(STRUCTS.values()))
_NEVER = (datetime.max.replace(tzinfo=UTC), datetime.min.replace(tzinfo=UTC))


class EventDecoder:
    """Decodes and validates raw Kafka record values against :class:`Limits`.

    Not thread-safe: it caches the limits' datetimes for the last ``now`` seen.
    """

    def __init__(self, limits: Limits = Limits()) -> None:  # noqa: B008 (frozen dataclass)
        self._limits = limits
        self._max_cost = limits.max_cost_micros
        self._decode = msgspec.json.Decoder(_UNION).decode
        self._now = float("nan")
        self._moment = _EPOCH
        self._earliest, self._latest = _NEVER
        self._plain_bytes = self._max_bytes = 0

    @property
    def limits(self) -> Limits:
        return self._limits

    def _set_now(self, now: float) -> None:
        moment = datetime.fromtimestamp(now, UTC)
        limits = self._limits
        try:
            latest = moment + limits.max_future_skew
            earliest = max(limits.min_event_time, moment - limits.max_age)
        except (TypeError, ValueError, OverflowError):
            earliest, latest = _NEVER  # nothing passes: validate_raw says what it says
        # an int literal longer than this makes json.loads raise ValueError
        digits = sys.get_int_max_str_digits() or sys.maxsize
        self._now, self._moment = now, moment
        self._earliest, self._latest = earliest, latest
        self._plain_bytes, self._max_bytes = min(_PLAIN_BYTES, digits), digits

    def decode(self, raw: bytes | None, now: float) -> EventStruct:
        """The event in ``raw`` as a struct, or :class:`~.contracts.InvalidEvent`.

        ``now`` is the current time in epoch seconds (read once per batch).
        """
        if now != self._now:
            self._set_now(now)
        if raw is not None and (
            len(raw) <= self._plain_bytes
            or (len(raw) <= self._max_bytes and raw.count(b"{") + raw.count(b"[") <= _MAX_BRACKETS)
        ):
            try:
                if not raw.isascii():
                    raw.decode()  # json.loads refuses bad UTF-8 that msgspec may skip
                event: EventStruct = self._decode(raw)
                cost = getattr(event, event._cost_field)
                if (
                    self._earliest <= event.event_time <= self._latest
                    and (cost is None or cost <= self._max_cost)
                    and (
                        "period_start" not in event._times
                        or not period_problems(event.period_start, event.event_time, self._limits)
                    )
                ):
                    return event
            except Exception:  # refused here: validate_raw decides
                pass
        return self._validated(raw)

    def _validated(self, raw: bytes | None) -> EventStruct:
        record = validate_raw(raw, self._limits, now=self._moment)
        fields = {name: getattr(record, name) for name in record._options.fields}
        return STRUCTS[record.event_type](**fields)


def event_ms(event: EventStruct) -> int:
    """Epoch milliseconds of ``event.event_time``, exactly (floor of the microseconds).

    About 20% faster than ``int(event.event_time.timestamp() * 1000)``, which is one
    millisecond short for about 0.6% of millisecond-precision times (float rounding).
    """
    delta: timedelta = event.event_time - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000
