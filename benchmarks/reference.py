"""The reference loop: the worker's job, done by a hand-written aiokafka ``getmany`` loop.

What it does with every record of the three source topics, exactly as the worker must:

- decode and validate with the project's :class:`~funnelwatch.schemas.decode.EventDecoder`
  (the worker's one-pass validation); an invalid record goes to the dead-letter topic
  with the worker's headers (:func:`~funnelwatch.processors.source.deadletter.dead_letter_headers`);
- attribute in memory: a click gives its segment to the forms naming its ``click_id``
  (also to forms that arrived before it: they are re-attributed), a form without a
  known click is attributed by utm (the project's pure rules,
  :mod:`funnelwatch.processors.attribution.rules`); a lead counts its earliest form,
  which attributes the lead, and its earliest CRM event of each stage; duplicates
  (same ``event_id``) count once;
- aggregate ``kpi_minute`` rows in memory (minute x campaign x dim x dim_value x stage:
  events, cost, revenue; the configured segment dimensions of
  :mod:`funnelwatch.schemas.segments`, clicks under the click dimensions, leads under
  all; no top-N cut: the yardstick counts every value apart),
  write the rows each poll touched to ClickHouse (same schema, ``insert_columns``, one
  fresh version per write), then commit the poll's offsets;
- at the end of a phase, the same rolling-conversion recompute the roller runs
  (:func:`~funnelwatch.processors.rollup.recompute.recompute_rolling`) over the span
  the roller would roll: from the phase's first minute (or the first minute never
  rolled) to the newest minute.

No hot-path code (batching, checkpoint, lead store, roller): it is the yardstick of what
a plain loop costs on this machine. It need not survive crashes: all state is in memory.

A run has an untimed preload phase (up to given end offsets) and a timed phase (up to
the end offsets of the backlog). Manual assignment with a group id, for commits only.

Usage: ``python -m benchmarks.reference --bootstrap HOST:PORT --prefix P --chdb DIR
[--preload-ends FILE] [--ends FILE]``: the last stdout line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from funnelwatch.clickhouse import ClickHouse, connect
from funnelwatch.processors.attribution.rules import RANKS, Attribution, Segment, Segmenter
from funnelwatch.processors.rollup.recompute import recompute_rolling
from funnelwatch.processors.rollup.versions import new_version
from funnelwatch.processors.source.deadletter import dead_letter_headers
from funnelwatch.schemas.contracts import InvalidEvent, Limits
from funnelwatch.schemas.decode import EventDecoder, event_ms
from funnelwatch.schemas.funnel import Funnel, load_funnel
from funnelwatch.schemas.migrate import migrate
from funnelwatch.schemas.segments import ALL, load_segments
from funnelwatch.settings import Settings, load_settings
from funnelwatch.streams.catalogue import catalogue

#: (minute, campaign_id, dim, dim_value, stage)
KpiKey = tuple[int, str, str, str, str]
#: a lead's earliest form: (event time ms, event_id, attribution, click_id)
Form = tuple[int, str, Attribution, str]
#: a lead's earliest CRM event of one stage: (event time ms, event_id, deal value)
Crm = tuple[int, str, int]
#: what a lead adds to kpi_minute: (minute, stage, attribution, revenue) per counted event
Contribution = tuple[int, str, Attribution, int]
Ends = dict[TopicPartition, int]
_CLICK_RANK = RANKS["click"]


class Lead:
    __slots__ = ("crm", "form")

    def __init__(self) -> None:
        self.form: Form | None = None
        self.crm: dict[str, Crm] | None = None


def limits_from(settings: Settings) -> Limits:
    """The worker's plausibility limits, from the same settings."""
    return Limits(
        max_future_skew=timedelta(seconds=settings.max_future_skew_seconds),
        max_cost_micros=settings.max_cost_micros,
        max_age=timedelta(days=settings.max_event_age_days),
    )


@dataclass
class Phase:
    """What one phase read and wrote, and what it cost."""

    records: int = 0
    valid: int = 0
    dead_letters: int = 0
    polls: int = 0
    rows_written: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    rolling_seconds: float = 0.0
    first_minute: int = 0
    last_minute: int = 0


@dataclass
class ReferenceConfig:
    bootstrap: str
    topic_prefix: str
    clickhouse_url: str
    group_id: str = ""
    partitions: int = 4
    windows: tuple[int, ...] = (15, 60, 1440)
    #: most records one getmany returns (the worker's batch_max_records)
    max_records: int = 50_000
    poll_timeout_ms: int = 500
    settings: Settings = field(default_factory=load_settings)

    def __post_init__(self) -> None:
        self.group_id = self.group_id or f"{self.topic_prefix}-reference"


class ReferenceLoop:
    """Open with :meth:`start`, run phases with :meth:`run_until`, then :meth:`close`."""

    def __init__(self, config: ReferenceConfig, log: Callable[[str], None] | None = None) -> None:
        self.config = config
        self.log = log or (lambda text: print(text, file=sys.stderr, flush=True))
        s = config.settings.model_copy(
            update={"topic_prefix": config.topic_prefix, "partitions": config.partitions}
        )
        cat = catalogue(s)
        self.sources = tuple(t.name for t in cat.sources)
        self.dead_letter_topic = cat.dead_letter.name
        self.funnel: Funnel = load_funnel(config.settings.funnel_file)
        self.click_stage = self.funnel.stage_names[0]
        self.lead_stage = self.funnel.stage_names[1]
        self.stage_for_status = self.funnel.stage_for_status
        self.decoder = EventDecoder(limits_from(config.settings))
        self.segmenter = Segmenter(load_segments(config.settings.segments_file))
        self.click_dims = (ALL, *self.segmenter.click_names)
        self.lead_dims = (ALL, *self.segmenter.names)
        self.tps = [TopicPartition(t, p) for t in self.sources for p in range(config.partitions)]
        # join state and aggregates, all in memory
        #: click_id -> ((campaign, *click values), event_id)
        self.clicks: dict[str, tuple[tuple[str, ...], str]] = {}
        self.extra_click_ids: set[str] = set()  # event ids of a second click with one click_id
        self.waiting: dict[str, list[tuple[str, str]]] = {}  # click_id -> (lead, form event)
        self.leads: dict[str, Lead] = {}
        self.kpi: dict[KpiKey, list[int]] = {}
        self._segments: dict[tuple[str, ...], tuple[str, ...]] = {}
        self._attributions: dict[Attribution, Attribution] = {}
        # per poll
        self._touched: set[KpiKey] = set()
        self._before: dict[str, list[Contribution]] = {}
        self._dead: list[asyncio.Future[Any]] = []
        self.position: dict[TopicPartition, int] = {}
        #: newest minute with KPIs, and the minute rolling conversions are computed up to
        self.watermark = self.rolled_until = 0
        self.client: ClickHouse | None = None
        self.consumer: AIOKafkaConsumer | None = None
        self.producer: AIOKafkaProducer | None = None

    # ---- lifecycle -----------------------------------------------------------------

    async def start(self) -> None:
        c = self.config
        self.client = await asyncio.to_thread(connect, c.clickhouse_url)
        await asyncio.to_thread(migrate, self.client)
        self.producer = AIOKafkaProducer(
            bootstrap_servers=c.bootstrap,
            acks="all",
            enable_idempotence=True,
            linger_ms=5,
            max_batch_size=1_000_000,
        )
        await self.producer.start()
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=c.bootstrap,
            group_id=c.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=50,
            max_partition_fetch_bytes=4 * 1024 * 1024,
            fetch_max_bytes=64 * 1024 * 1024,
        )
        await self.consumer.start()
        self.consumer.assign(self.tps)
        for tp in self.tps:
            committed = await self.consumer.committed(tp)
            if committed is None:
                await self.consumer.seek_to_beginning(tp)
            else:
                self.consumer.seek(tp, committed)
            self.position[tp] = await self.consumer.position(tp)

    async def close(self) -> None:
        if self.consumer is not None:
            await self.consumer.stop()
        if self.producer is not None:
            await self.producer.stop()
        if self.client is not None:
            self.client.close()

    async def end_offsets(self) -> Ends:
        assert self.consumer is not None
        ends: Ends = await self.consumer.end_offsets(self.tps)
        return ends

    # ---- a phase ---------------------------------------------------------------------

    async def run_until(self, ends: Mapping[TopicPartition, int]) -> Phase:
        """Consume every source partition up to ``ends`` (exclusive; a partition not
        named is not read), write and commit, then recompute rolling conversions of the
        phase's minutes. Timed from the call to the end of the recompute."""
        consumer = self.consumer
        assert consumer is not None and self.client is not None
        started, cpu = time.monotonic(), time.process_time()
        phase = Phase()
        stop = {tp: ends.get(tp, self.position[tp]) for tp in self.tps}
        for tp in self.tps:
            if self.position[tp] >= stop[tp]:
                consumer.pause(tp)
            else:
                consumer.resume(tp)
        last_report = started
        while any(self.position[tp] < stop[tp] for tp in self.tps):
            batches = await consumer.getmany(
                timeout_ms=self.config.poll_timeout_ms, max_records=self.config.max_records
            )
            if not batches:
                continue
            await self._poll(batches, stop, phase)
            if time.monotonic() - last_report >= 10:
                last_report = time.monotonic()
                left = sum(max(0, stop[tp] - self.position[tp]) for tp in self.tps)
                self.log(
                    f"reference: {phase.records:,} records in {last_report - started:.0f}s, "
                    f"{left:,} to go"
                )
        if phase.last_minute:
            # the span the roller rolls (rollup/progress.py roll): from the first changed
            # minute (or the first never rolled) to the newest minute with KPIs
            self.watermark = max(self.watermark, phase.last_minute)
            lo = phase.first_minute
            if self.rolled_until:
                lo = min(lo, self.rolled_until + 60)
            rolled = time.monotonic()
            await asyncio.to_thread(
                recompute_rolling,
                self.client,
                self.funnel,
                self.config.windows,
                lo,
                self.watermark,
            )
            self.rolled_until = self.watermark
            phase.rolling_seconds = time.monotonic() - rolled
        phase.seconds = time.monotonic() - started
        phase.cpu_seconds = time.process_time() - cpu
        return phase

    async def _poll(
        self,
        batches: Mapping[TopicPartition, list[Any]],
        stop: Mapping[TopicPartition, int],
        phase: Phase,
    ) -> None:
        consumer = self.consumer
        assert consumer is not None
        decode = self.decoder.decode
        now = time.time()
        commit: dict[TopicPartition, int] = {}
        valid = records_read = 0
        for tp, fetched in batches.items():
            records = fetched
            end = stop[tp]
            if records and records[-1].offset >= end:
                records = [r for r in records if r.offset < end]
                consumer.seek(tp, end)  # what was fetched beyond the end is read later
                consumer.pause(tp)
            if not records:
                continue
            records_read += len(records)
            for record in records:
                raw = record.value
                try:
                    event = decode(raw, now)
                except InvalidEvent as exc:
                    await self._dead_letter(record, raw, exc)
                    continue
                valid += 1
                event_type = event.event_type
                if event_type == "ad_click":
                    self._click(event)
                elif event_type == "form_submission":
                    self._form(event)
                else:
                    self._crm(event)
            commit[tp] = records[-1].offset + 1
        self._settle_leads()
        rows = self._rows()
        if rows:
            client = self.client
            assert client is not None
            await asyncio.to_thread(client.insert_columns, "kpi_minute", rows)
            lo, hi = min(rows["minute"]), max(rows["minute"])
            phase.first_minute = min(phase.first_minute or lo, lo)
            phase.last_minute = max(phase.last_minute, hi)
        if self._dead:
            await asyncio.gather(*self._dead)
            phase.dead_letters += len(self._dead)
            self._dead = []
        if commit:
            await consumer.commit(commit)
            self.position.update(commit)
        phase.records += records_read
        phase.valid += valid
        phase.polls += 1
        phase.rows_written += len(rows["minute"]) if rows else 0

    async def _dead_letter(self, record: Any, raw: bytes | None, exc: InvalidEvent) -> None:
        assert self.producer is not None
        headers = dead_letter_headers(exc, record.topic, record.partition, record.offset)
        future = await self.producer.send(
            self.dead_letter_topic, value=raw, key=record.key, headers=headers
        )
        self._dead.append(future)

    # ---- attribution and aggregation -----------------------------------------------

    def _add(
        self,
        minute: int,
        stage: str,
        campaign: str,
        dims: tuple[str, ...],
        values: tuple[str, ...],
        events: int,
        cost: int,
        revenue: int,
    ) -> None:
        """Count one event (or take it back: events -1) in its kpi_minute row of each of
        ``dims`` ("all" first, its value "all")."""
        kpi, touched = self.kpi, self._touched
        for dim, value in zip(dims, (ALL, *values), strict=True):
            key = (minute, campaign, dim, value, stage)
            row = kpi.get(key)
            if row is None:
                row = kpi[key] = [0, 0, 0]
            row[0] += events
            row[1] += cost
            row[2] += revenue
            touched.add(key)

    def _click(self, event: Any) -> None:
        click_id, event_id = event.click_id, event.event_id
        known = self.clicks.get(click_id)
        if known is not None:
            if known[1] == event_id or event_id in self.extra_click_ids:
                return  # a duplicate
            self.extra_click_ids.add(event_id)  # another click event with this click_id
            seg = known[0]
        else:
            seg = self.segmenter.click_key(event)
            seg = self._segments.setdefault(seg, seg)
            self.clicks[click_id] = (seg, event_id)
        minute = event_ms(event) // 60_000 * 60
        self._add(
            minute, self.click_stage, seg[0], self.click_dims, seg[1:], 1, event.cost_micros, 0
        )
        waiting = self.waiting.pop(click_id, None)
        if waiting:
            click = Segment(seg[0], seg[1:])
            for lead_id, form_id in waiting:
                lead = self.leads[lead_id]
                form = lead.form
                # only the lead's earliest form attributes it; a later one never will
                if form is not None and form[1] == form_id and RANKS[form[2].method] < _CLICK_RANK:
                    self._touch(lead_id, lead)
                    # a form without its click carries its own values (utm or none)
                    attr = self._attribution(self.segmenter.by_click(click, form[2].values))
                    lead.form = (form[0], form[1], attr, form[3])

    def _form(self, event: Any) -> None:
        lead_id, event_id, click_id = event.lead_id, event.event_id, event.click_id or ""
        known = self.clicks.get(click_id) if click_id else None
        click = Segment(known[0][0], known[0][1:]) if known is not None else None
        attr = self._attribution(self.segmenter.attribute_form(event, click))
        lead = self.leads.get(lead_id)
        if lead is None:
            lead = self.leads[lead_id] = Lead()
        t = event_ms(event)
        form = lead.form
        if form is None or (t, event_id) < (form[0], form[1]):
            self._touch(lead_id, lead)
            lead.form = (t, event_id, attr, click_id)
        elif form[1] == event_id and RANKS[form[2].method] < RANKS[attr.method]:
            self._touch(lead_id, lead)  # a duplicate that knows the click by now
            lead.form = (form[0], event_id, attr, click_id)
        else:
            return
        if click_id and known is None:
            self.waiting.setdefault(click_id, []).append((lead_id, event_id))

    def _crm(self, event: Any) -> None:
        stage = self.stage_for_status(event.status)
        if stage is None:
            return  # a status the funnel does not count
        lead_id, event_id = event.lead_id, event.event_id
        lead = self.leads.get(lead_id)
        if lead is None:
            lead = self.leads[lead_id] = Lead()
        t = event_ms(event)
        crm = lead.crm
        if crm is None:
            crm = {}
        known = crm.get(stage)
        if known is None or (t, event_id) < (known[0], known[1]):
            self._touch(lead_id, lead)
            crm[stage] = (t, event_id, event.deal_value_micros or 0)
            lead.crm = crm

    def _attribution(self, attr: Attribution) -> Attribution:
        return self._attributions.setdefault(attr, attr)

    def _touch(self, lead_id: str, lead: Lead) -> None:
        if lead_id not in self._before:
            self._before[lead_id] = self._contributions(lead)

    def _contributions(self, lead: Lead) -> list[Contribution]:
        form = lead.form
        attr = self.segmenter.no_lead if form is None else form[2]
        out: list[Contribution] = []
        if form is not None:
            out.append((form[0] // 60_000 * 60, self.lead_stage, attr, 0))
        if lead.crm:
            for stage, (t, _, value) in lead.crm.items():
                out.append((t // 60_000 * 60, stage, attr, value))
        return out

    def _settle_leads(self) -> None:
        """Move the KPIs of every lead this poll changed from its old facts to its new."""
        leads, add, dims = self.leads, self._add, self.lead_dims
        for lead_id, before in self._before.items():
            after = self._contributions(leads[lead_id])
            if after == before:
                continue
            for minute, stage, attr, revenue in before:
                add(minute, stage, attr.campaign_id, dims, attr.values, -1, 0, -revenue)
            for minute, stage, attr, revenue in after:
                add(minute, stage, attr.campaign_id, dims, attr.values, 1, 0, revenue)
        self._before = {}

    def _rows(self) -> dict[str, list[Any]] | None:
        if not self._touched:
            return None
        keys, self._touched = self._touched, set()
        kpi = self.kpi
        minute, campaign, dim, value, stage = (list(c) for c in zip(*keys, strict=True))
        rows = [kpi[k] for k in keys]
        return {
            "minute": minute,
            "campaign_id": campaign,
            "dim": dim,
            "dim_value": value,
            "stage": stage,
            "events": [r[0] for r in rows],
            "cost_micros": [r[1] for r in rows],
            "revenue_micros": [r[2] for r in rows],
            "version": [new_version()] * len(rows),
        }


def peak_rss_mb() -> float:
    """VmHWM of this process, in MB (as the benchmark reads the worker's)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def ends_from_json(path: Path) -> Ends:
    """``{"topic:partition": offset}`` as end offsets."""
    data = json.loads(path.read_text())
    return {TopicPartition(k.rsplit(":", 1)[0], int(k.rsplit(":", 1)[1])): int(v)
            for k, v in data.items()}  # fmt: skip


async def run(
    config: ReferenceConfig,
    preload_ends: Ends | None = None,
    ends: Ends | None = None,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """An untimed preload phase (if ``preload_ends``), then the timed phase up to
    ``ends`` (default: the end offsets once the preload is done)."""
    loop = ReferenceLoop(config, log)
    await loop.start()
    try:
        result: dict[str, Any] = {}
        if preload_ends is not None:
            pre = await loop.run_until(preload_ends)
            loop.log(f"reference: preload of {pre.records:,} records read in {pre.seconds:.1f}s")
            result["preload"] = asdict(pre)
        target = ends if ends is not None else await loop.end_offsets()
        phase = await loop.run_until(target)
        result.update(asdict(phase))
        result["leads"] = len(loop.leads)
        result["kpi_rows"] = len(loop.kpi)
        result["peak_rss_mb"] = round(peak_rss_mb(), 1)
        return result
    finally:
        await loop.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="benchmarks.reference", description=(__doc__ or "").splitlines()[0]
    )
    parser.add_argument("--bootstrap", required=True, help="Kafka bootstrap servers")
    parser.add_argument("--prefix", required=True, help="topic prefix of the run")
    parser.add_argument("--chdb", type=Path, help="embedded ClickHouse directory")
    parser.add_argument("--clickhouse-url", help="or any ClickHouse URL")
    parser.add_argument("--group", default="", help="consumer group (default <prefix>-reference)")
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--preload-ends", type=Path, help="JSON end offsets of the preload")
    parser.add_argument("--ends", type=Path, help="JSON end offsets of the timed phase")
    args = parser.parse_args(argv)
    if (args.chdb is None) == (args.clickhouse_url is None):
        parser.error("give one of --chdb and --clickhouse-url")
    url = args.clickhouse_url or f"chdb://{args.chdb.absolute()}"
    config = ReferenceConfig(args.bootstrap, args.prefix, url, args.group, args.partitions)
    result = asyncio.run(
        run(
            config,
            ends_from_json(args.preload_ends) if args.preload_ends else None,
            ends_from_json(args.ends) if args.ends else None,
        )
    )
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
