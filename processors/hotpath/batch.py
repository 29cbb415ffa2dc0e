"""One batch of records in one pass: decode, validate, route, attribute, derive facts.

A batch is what one ``consume`` returned: records of any assigned partitions of the
source topics and of ``by-lead``. :meth:`BatchProcessor.process` turns it into a
:class:`Pending` (the facts, lead states and offsets to write), which the checkpoint
writes. Nothing here commits anything.

Where each record goes:

- a record that is not a valid event goes to the dead-letter topic, with its reason
  and origin in headers;
- a click is counted where it was read (its fact depends on nothing else) and kept
  in the click cache;
- a spend report is written where it was read (its row depends on nothing else);
- a form or CRM event belongs to the owner of its lead's partition (see
  :mod:`funnelwatch.processors.source.placement`): read there, it joins its lead's
  state; read anywhere else, it is forwarded to ``by-lead`` unchanged;
- a ``by-lead`` record is a forwarded event, or the news that a form's click arrived.

Invariants: the facts and states of a batch depend only on the records and on what
ClickHouse and the lead store held when it started, never on how records were split
into batches, except in the version numbers (see the attribution package); a form
whose click is not found is recorded as waiting *before* the click is looked up a
second time (the race in :mod:`funnelwatch.processors.state.waiting`).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, TypeVar

import msgspec

from funnelwatch.clickhouse import ClickHouse
from funnelwatch.connectors.contacts import ContactRow
from funnelwatch.schemas.contracts import InvalidEvent
from funnelwatch.schemas.decode import EventDecoder, event_ms

from ..attribution.facts import ARRAY_COLUMNS, FACT_COLUMNS, Fact, Source
from ..attribution.lead import (
    LeadState,
    LeadView,
    add_crm,
    add_form,
    facts_to_emit,
    lead_view,
    reattribute,
)
from ..attribution.rules import Attribution, Segment, Segmenter
from ..rollup.versions import new_version
from ..source.deadletter import dead_letter_headers
from ..source.placement import owner_partition
from ..source.rawcontacts import without_raw_contacts
from ..spend.reports import SpendRow, spend_row
from ..state.clicks import ClickCache, lookup_clicks
from ..state.leads import LeadStore
from ..state.waiting import Waiting, record_waiting
from .config import HotPathConfig

T = TypeVar("T")

#: header ``kind`` of by-lead records
FORWARDED, CLICK_ARRIVED = b"event", b"click"

_FORM, _CRM, _CLICK_ATTR = 0, 1, 2
#: a click's news: (lead_id, form event_id, campaign, the click's values)
_NEWS = msgspec.msgpack.Decoder(tuple[str, ...])
_encode = msgspec.msgpack.Encoder().encode


class Record(Protocol):
    """What the hot path reads of a Kafka record (confluent_kafka.Message has it all)."""

    def topic(self) -> str | None: ...
    def partition(self) -> int | None: ...
    def offset(self) -> int | None: ...
    def key(self) -> bytes | None: ...
    def value(self) -> bytes | None: ...
    def headers(self) -> Any: ...
    def error(self) -> Any: ...


class Producer(Protocol):
    def produce(
        self,
        topic: str,
        *,
        value: bytes | None = None,
        key: bytes | None = None,
        partition: int = -1,
        headers: list[tuple[str, str | bytes | None]] | None = None,
    ) -> None: ...


#: runs one ClickHouse operation, retrying through outages (see loop.ClickHouseGate)
RunInClickHouse = Callable[[Callable[[ClickHouse], T]], T]


@dataclass(slots=True)
class LeadEvent:
    kind: int
    lead_id: str
    event_id: str
    t: int
    src: Source
    click_id: str = ""
    form: Any = None
    stage: str = ""
    value: int = 0
    attr: Attribution | None = None
    #: a click that arrived for this (known) form
    click: Segment | None = None


class FactColumns:
    """Facts as columns, the cheap insert format: clicks column by column, leads as rows."""

    _CLICK_VARYING = ("minute", "event_id", "event_time_ms", "campaign_id", "dim_values",
                      "click_id", "cost_micros", "source_topic", "source_partition",
                      "source_offset")  # fmt: skip
    _CLICK_CONSTANT: ClassVar[dict[str, Any]] = {"attribution": "click", "lead_id": "",
                                       "revenue_micros": 0, "counted": 1, "version": 1,
                                       "lead_partition": 0}  # fmt: skip

    def __init__(self, click_stage: str, click_dims: tuple[str, ...]) -> None:
        self.click_stage = click_stage
        self.click_dims = list(click_dims)
        self.clicks: dict[str, list[Any]] = {c: [] for c in self._CLICK_VARYING}
        self.leads: list[Fact] = []

    def __len__(self) -> int:
        return len(self.clicks["minute"]) + len(self.leads)

    def columns(self) -> dict[str, list[Any]]:
        n = len(self.clicks["minute"])
        out: dict[str, list[Any]] = {}
        lead_cols = list(zip(*self.leads, strict=True)) if self.leads else []
        for i, name in enumerate(FACT_COLUMNS):
            if name in self.clicks:
                col = self.clicks[name]
            elif name == "stage":
                col = [self.click_stage] * n
            elif name == "dim_names":
                col = [self.click_dims] * n
            else:
                col = [self._CLICK_CONSTANT[name]] * n
            if lead_cols:
                leads = lead_cols[i]
                col = col + ([list(v) for v in leads] if name in ARRAY_COLUMNS else list(leads))
            out[name] = col
        return out

    def minutes(self) -> set[int]:
        return set(self.clicks["minute"]) | {f.minute for f in self.leads}


@dataclass
class Counts:
    """What a batch adds to the worker's counters (applied after its checkpoint)."""

    events: Counter[str] = field(default_factory=Counter)
    dead: Counter[tuple[str, str]] = field(default_factory=Counter)
    attributions: Counter[str] = field(default_factory=Counter)
    reattributed: Counter[str] = field(default_factory=Counter)
    crm_without_lead: int = 0
    click_news_for_unknown_forms: int = 0
    #: lead events read with raw contact fields (ignored, never copied on)
    raw_contacts: int = 0
    last_event_time: dict[str, float] = field(default_factory=dict)


@dataclass
class ClicksRead:
    """Offsets and minutes of the clicks read from one topic (for the waiting check)."""

    offsets: dict[int, tuple[int, int]] = field(default_factory=dict)
    minutes: set[int] = field(default_factory=set)


@dataclass
class Pending:
    """A processed batch: what the checkpoint must write, in this order."""

    facts: FactColumns
    states: dict[int, dict[str, LeadState]]
    clicks: dict[str, ClicksRead]
    #: next offset of every partition a record was read from
    commit: dict[tuple[str, int], int]
    counts: Counts
    records: int = 0
    #: the contact hashes of the batch's forms (written again on a replay: idempotent)
    contacts: list[ContactRow] = field(default_factory=list)
    #: the spend reports of the batch (a replay writes the same rows)
    spend: list[SpendRow] = field(default_factory=list)
    #: the minutes of every fact of a lead that met an event its state held already: a
    #: worker killed after saving the state but before its rollup notice left them
    #: unannounced, and the replay writes no fact that would announce them
    replayed_minutes: set[int] = field(default_factory=set)

    @property
    def minutes(self) -> set[int]:
        """The minutes the rollup notice names: those of the facts written, and those a
        replay met (recomputing a minute twice gives the same rows)."""
        return self.facts.minutes() | self.replayed_minutes


class BatchProcessor:
    def __init__(
        self,
        config: HotPathConfig,
        store: LeadStore,
        clicks: ClickCache,
        producer: Producer,
        clickhouse: RunInClickHouse[Any],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.topics = config.topics
        self.lead_stage = config.lead_stage
        self.click_stage = config.funnel.stage_names[0]
        self.stage_for_status = config.funnel.stage_for_status
        self.decoder = EventDecoder(config.limits)
        self.segmenter = Segmenter(config.segments)
        self.store = store
        self.cache = clicks
        self.producer = producer
        self.clickhouse = clickhouse
        self.clock = clock

    def new_facts(self) -> FactColumns:
        return FactColumns(self.click_stage, self.segmenter.click_names)

    # ---- phase 1: one pass over the records ----------------------------------------

    def process(self, runs: Mapping[tuple[str, int], Sequence[Record]]) -> Pending:
        """One pass over a batch given as each partition's records in offset order."""
        now = self.clock()
        pending = Pending(self.new_facts(), {}, {}, {}, Counts())
        lead_events: dict[int, list[LeadEvent]] = {}
        for (topic, partition), records in runs.items():
            if not records:
                continue
            pending.records += len(records)
            last = records[-1].offset()
            assert last is not None
            pending.commit[(topic, partition)] = last + 1
            if topic == self.topics.by_lead:
                self._by_lead(partition, records, now, lead_events, pending)
            else:
                self._source(topic, partition, records, now, lead_events, pending)
        newest = pending.counts.last_event_time
        for events_of in lead_events.values():
            for e in events_of:
                if e.kind != _CLICK_ATTR:
                    event_type = "form_submission" if e.kind == _FORM else "crm_event"
                    if e.t / 1000 > newest.get(event_type, 0.0):
                        newest[event_type] = e.t / 1000
        if lead_events:
            self._resolve_clicks(lead_events)
            self._apply(lead_events, pending)
        return pending

    def _source(
        self,
        topic: str,
        partition: int,
        records: Sequence[Record],
        now: float,
        lead_events: dict[int, list[LeadEvent]],
        pending: Pending,
    ) -> None:
        """The records of one source partition: clicks counted, lead events to their owner."""
        decode = self.decoder.decode
        counts = pending.counts
        events = counts.events
        cache_add = self.cache.add
        col = pending.facts.clicks
        a_minute, a_eid, a_ms = (
            col["minute"].append,
            col["event_id"].append,
            col["event_time_ms"].append,
        )
        a_cmp, a_dims, a_cid = (
            col["campaign_id"].append,
            col["dim_values"].append,
            col["click_id"].append,
        )
        click_key = self.segmenter.click_key
        a_cost, a_off = col["cost_micros"].append, col["source_offset"].append
        minutes: set[int] = set()
        first_click = last_click = newest_click = -1
        clicks = 0
        partitions = self.topics.partitions
        mine: list[LeadEvent] = []
        for record in records:
            raw = record.value()
            offset: int = record.offset()  # type: ignore[assignment]
            try:
                ev = decode(raw, now)
            except InvalidEvent as exc:
                self._dead_letter(record, raw, exc, (topic, partition, offset), counts)
                continue
            event_type = ev.event_type
            events[event_type] += 1
            if event_type == "ad_click":
                t = event_ms(ev)
                minute = t // 60_000 * 60
                segment = cache_add(ev.click_id, click_key(ev))
                a_minute(minute)
                a_eid(ev.event_id)
                a_ms(t)
                a_cmp(segment.campaign_id)
                a_dims(list(segment.values))
                a_cid(ev.click_id)
                a_cost(ev.cost_micros)
                a_off(offset)
                minutes.add(minute)
                if t > newest_click:
                    newest_click = t
                if first_click < 0:
                    first_click = offset
                last_click = offset
                clicks += 1
                continue
            if event_type == "ad_spend":
                pending.spend.append(spend_row(ev, (topic, partition, offset)))
                continue
            stripped = without_raw_contacts(raw)
            if stripped is not None:
                counts.raw_contacts += 1
                raw = stripped
            lead_id = ev.lead_id
            owner = owner_partition(lead_id, partitions)
            if owner != partition:
                self._forward(raw, lead_id, owner, (topic, partition, offset))
                continue
            event = self._lead_event(ev, (topic, partition, offset))
            if event is not None:
                mine.append(event)
        if clicks:
            newest = counts.last_event_time
            newest["ad_click"] = max(newest.get("ad_click", 0.0), newest_click / 1000)
            col["source_topic"].extend([topic] * clicks)
            col["source_partition"].extend([partition] * clicks)
            read = pending.clicks.get(topic)
            if read is None:
                read = pending.clicks[topic] = ClicksRead()
            read.offsets[partition] = (first_click, last_click)
            read.minutes |= minutes
        if mine:
            lead_events.setdefault(partition, []).extend(mine)

    def _by_lead(
        self,
        partition: int,
        records: Sequence[Record],
        now: float,
        lead_events: dict[int, list[LeadEvent]],
        pending: Pending,
    ) -> None:
        """Records forwarded to this lead partition's owner, and news of late clicks."""
        mine = lead_events.setdefault(partition, [])
        plain: list[Record] = []
        for record in records:
            raw = record.value()
            offset: int = record.offset()  # type: ignore[assignment]
            headers = dict(record.headers() or ())
            kind = headers.get("kind")
            if kind == CLICK_ARRIVED:
                lead_id, form_id, campaign, *values = _NEWS.decode(raw or b"")
                mine.append(
                    LeadEvent(_CLICK_ATTR, lead_id, form_id, 0, (self.topics.by_lead, partition,
                              offset), click=Segment(campaign, tuple(values)))
                )  # fmt: skip
                continue
            if kind != FORWARDED:  # not written by a worker: read it as a source record
                plain.append(record)
                continue
            src = (
                headers["source_topic"].decode(),
                int(headers["source_partition"]),
                int(headers["source_offset"]),
            )
            try:
                ev = self.decoder.decode(raw, now)
            except InvalidEvent as exc:  # valid when forwarded: now too old, say
                self._dead_letter(record, raw, exc, src, pending.counts)
                continue
            event = self._lead_event(ev, src)
            if event is not None:
                mine.append(event)
        if plain:
            self._source(self.topics.by_lead, partition, plain, now, lead_events, pending)

    def _lead_event(self, ev: Any, src: Source) -> LeadEvent | None:
        t = event_ms(ev)
        if ev.event_type == "form_submission":
            return LeadEvent(_FORM, ev.lead_id, ev.event_id, t, src, ev.click_id or "", ev)
        stage = self.stage_for_status(ev.status)
        if stage is None:
            return None  # a status the funnel does not count
        return LeadEvent(_CRM, ev.lead_id, ev.event_id, t, src, stage=stage,
                         value=ev.deal_value_micros or 0)  # fmt: skip

    def _forward(self, raw: bytes | None, lead_id: str, owner: int, src: Source) -> None:
        self.producer.produce(
            self.topics.by_lead,
            value=raw,
            key=lead_id.encode(),
            partition=owner,
            headers=[("kind", FORWARDED), ("source_topic", src[0].encode()),
                     ("source_partition", str(src[1]).encode()),
                     ("source_offset", str(src[2]).encode())],
        )  # fmt: skip

    def _dead_letter(
        self, record: Record, raw: bytes | None, exc: InvalidEvent, src: Source, counts: Counts
    ) -> None:
        stripped = without_raw_contacts(raw)
        if stripped is not None:  # the dead-letter topic keeps no raw contact either
            counts.raw_contacts += 1
            raw = stripped
        self.producer.produce(
            self.topics.dead_letter,
            value=raw,
            key=record.key(),
            headers=list(dead_letter_headers(exc, *src)),
        )
        counts.dead[(exc.reason, src[0])] += 1

    # ---- phase 2: the clicks forms name --------------------------------------------

    def _resolve_clicks(self, lead_events: dict[int, list[LeadEvent]]) -> None:
        """Attribute every form; those whose click is not found wait for it."""
        unknown: dict[str, list[LeadEvent]] = {}
        get = self.cache.get
        seg = self.segmenter
        for evs in lead_events.values():
            for ev in evs:
                if ev.kind != _FORM:
                    continue
                segment = get(ev.click_id) if ev.click_id else None
                if segment is not None:
                    ev.attr = seg.attribute_form(ev.form, segment)
                elif ev.click_id:
                    unknown.setdefault(ev.click_id, []).append(ev)
                else:
                    ev.attr = seg.attribute_form(ev.form, None)
        if not unknown:
            return
        found = self.clickhouse(lambda c: lookup_clicks(c, unknown, seg))
        missing = {k: v for k, v in unknown.items() if k not in found}
        if missing:
            waiting = [
                Waiting(click_id, ev.event_id, ev.lead_id, owner_partition(ev.lead_id,
                        self.topics.partitions), ev.t // 60_000 * 60)
                for click_id, evs in missing.items() for ev in evs
            ]  # fmt: skip

            def wait_then_look_again(client: ClickHouse) -> dict[str, Segment]:
                record_waiting(client, waiting)
                return lookup_clicks(client, missing, seg)

            found.update(self.clickhouse(wait_then_look_again))
        for click_id, evs in unknown.items():
            segment = found.get(click_id)
            for ev in evs:
                ev.attr = seg.attribute_form(ev.form, segment)

    # ---- phase 3: lead states and their facts --------------------------------------

    def _apply(self, lead_events: dict[int, list[LeadEvent]], pending: Pending) -> None:
        counts = pending.counts
        stage = self.lead_stage
        contacts = pending.contacts
        dims = self.segmenter.names
        by_click = self.segmenter.by_click
        for partition, evs in lead_events.items():
            by_lead: dict[str, list[LeadEvent]] = {}
            for ev in evs:
                by_lead.setdefault(ev.lead_id, []).append(ev)
            stored = self.store.load(partition, by_lead)
            changed = pending.states.setdefault(partition, {})
            for lead_id, lead_evs in by_lead.items():
                state = stored.get(lead_id)
                before: LeadView = {}
                if state is None:
                    state = LeadState()
                else:
                    before = lead_view(lead_id, partition, state, stage, 0, dims)
                touched = replayed = False
                for ev in lead_evs:
                    if ev.kind == _FORM:
                        assert ev.attr is not None
                        counts.attributions[ev.attr.method] += 1
                        if state.crm and ev.event_id not in state.forms:
                            counts.reattributed["lead"] += 1
                        if not add_form(state, ev.event_id, ev.t, ev.attr, ev.click_id, ev.src):
                            replayed = True
                        touched = True
                        hashes = ev.form.contact_hashes
                        if hashes:
                            minute = ev.t // 60_000 * 60
                            contacts.extend(
                                ContactRow(h, lead_id, partition, ev.event_id, minute, ev.t)
                                for h in hashes
                            )
                    elif ev.kind == _CRM:
                        if not state.forms:
                            counts.crm_without_lead += 1
                        if not add_crm(state, ev.event_id, ev.t, ev.stage, ev.value, ev.src):
                            replayed = True
                        touched = True
                    else:
                        assert ev.click is not None
                        known = state.forms.get(ev.event_id)
                        moved = known is not None and reattribute(
                            state, ev.event_id, by_click(ev.click, known.attr.values)
                        )
                        if moved:
                            counts.reattributed["click"] += 1
                            counts.attributions["click"] += 1
                            touched = True
                        elif known is not None:
                            replayed = touched = True  # news the state has applied already
                        else:
                            counts.click_news_for_unknown_forms += 1
                if not touched:
                    continue
                after = lead_view(lead_id, partition, state, stage, new_version(), dims)
                if replayed:
                    pending.replayed_minutes.update(fact.minute for fact, _ in after.values())
                emit = facts_to_emit(before, after)
                if emit:
                    pending.facts.leads.extend(emit)
                    changed[lead_id] = state


def click_news(waiting: Waiting, segment: Segment) -> bytes:
    """The by-lead record telling a lead's owner that a waiting form's click arrived."""
    return _encode((waiting.lead_id, waiting.event_id, segment.campaign_id, *segment.values))
