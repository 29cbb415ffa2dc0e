"""The hot path's thread: consume a batch, process it, checkpoint it, again.

Invariants:
- one batch at a time, checkpointed before the next ``consume``: a rebalance (whose
  callbacks run inside ``consume``) never finds a batch half written, except while a
  checkpoint waits out an outage (:mod:`.gate`); that batch is then abandoned,
  uncommitted, for the partitions' next owner to read again;
- taking over a lead partition (:mod:`funnelwatch.processors.state.restore`) happens in
  the assignment callback, before any record of it is processed;
- an error that retrying cannot fix (ClickHouse refusing a write, a record the broker
  refuses for good, a bug) stops the process before anything more is committed: a
  worker that silently stopped consuming would be worse than one that exits.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

from confluent_kafka import Consumer, Message, TopicPartition

from funnelwatch.clickhouse import ClickHouse

from .. import metrics
from ..attribution.lead import LeadState, lead_facts
from ..lag import LAG_REFRESH_SECONDS, LagReporter
from ..quiet import Quieter
from ..rollup.versions import new_version, saw_version
from ..state.clicks import ClickCache
from ..state.leads import LeadStore
from ..state.restore import last_owner, rebuild, take_ownership, trusted
from .align import Aligner
from .batch import BatchProcessor, Counts, Pending
from .checkpoint import Checkpoint
from .config import HotPathConfig
from .gate import Abandoned, Gate
from .kafka import assign_unpaused, make_consumer, make_producer

log = logging.getLogger(__name__)

#: seconds between two sweeps of the lead store past the lead horizon
EXPIRE_EVERY_SECONDS = 3600.0
#: longest a topic waits for its parents' backlog (see .align)
ALIGN_MAX_PAUSE_SECONDS = 10.0


def exit_without_commit(exc: BaseException) -> None:
    logging.shutdown()
    # Exiting here, before the batch is committed, keeps its offsets uncommitted.
    os._exit(70)


class HotPath:
    def __init__(
        self,
        config: HotPathConfig,
        connect_clickhouse: Callable[[], ClickHouse],
        on_fatal: Callable[[BaseException], None] = exit_without_commit,
    ) -> None:
        self.config = config
        self._on_fatal = on_fatal
        self._stop = threading.Event()
        self.gate = Gate(connect_clickhouse, config.retry_max_seconds, self._stop)
        self._thread: threading.Thread | None = None
        self._quieter = Quieter(log)
        self._in_batch = False
        self._committed: dict[tuple[str, int], int] = {}
        self._lag = LagReporter()
        self._lag_at = 0.0
        self._expired_at = time.monotonic()
        parents_first = (config.topics.clicks, config.topics.forms, config.topics.crm)
        self.aligner = Aligner(parents_first, ALIGN_MAX_PAUSE_SECONDS)
        self.consumer: Consumer | None = None
        self.store: LeadStore | None = None
        #: set once the consumer got its first assignment
        self.assigned = threading.Event()

    # ---- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="hot-path", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        try:
            self._setup()
            while not self._stop.is_set():
                self._step()
        except BaseException as exc:
            if not self._stop.is_set():
                log.critical("the hot path stopped: %r; exiting before committing more", exc)
                self._on_fatal(exc)
                return
            log.warning("the hot path stopped while shutting down: %r", exc)
        finally:
            self._teardown()

    def _setup(self) -> None:
        c = self.config
        self.store = store = LeadStore(c.state_dir, c.lead_cache_size, c.segments.signature)
        saw_version(store.max_version)
        log.info("lead store %s (%d leads)", store.path, store.count())
        self.producer = make_producer(c, f"{c.group_id}-producer", self._quieter,
                                      self.gate.on_delivery)  # fmt: skip
        self.consumer = self.gate.consumer = make_consumer(c, c.group_id, self._quieter)
        # the cache holds at least a batch: the checkpoint finds every click it wrote there
        clicks = ClickCache(max(c.click_cache_size, c.batch_max_records))
        self.processor = BatchProcessor(c, store, clicks, self.producer, self.gate.clickhouse)
        self.checkpoint = Checkpoint(
            c.topics,
            store,
            clicks,
            self.producer,
            self.gate.clickhouse,
            lambda: self.gate.flush(self.producer),
            self._commit,
        )
        self.consumer.subscribe(
            list(c.topics.consumed),
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )

    def _teardown(self) -> None:
        if self.consumer is not None:
            try:
                self.consumer.close()  # leaves the group; nothing is pending between batches
            except Exception as exc:
                log.warning("closing the consumer: %r", exc)
        if getattr(self, "producer", None) is not None:
            self.producer.flush(10)
        if self.store is not None:
            self.store.close()
        self.gate.close()

    # ---- one step: a batch, then housekeeping ----------------------------------------

    def _step(self) -> None:
        c = self.config
        assert self.consumer is not None
        records = self.consumer.consume(c.batch_max_records, c.batch_max_seconds)
        if records:
            self._batch(records)
        self._align()
        now = time.monotonic()
        if now - self._lag_at >= LAG_REFRESH_SECONDS:
            self._lag_at = now
            self._report_lag()
        if now - self._expired_at >= EXPIRE_EVERY_SECONDS:
            self._expired_at = now
            assert self.store is not None
            cutoff = int((time.time() - c.lead_horizon_days * 86_400) * 1000)
            changed = self.store.expire(cutoff)
            if changed:
                log.info("lead horizon: forgot the old events of %d leads", changed)

    def _batch(self, fetched: list[Message]) -> None:
        started = time.monotonic()
        gate = self.gate
        records, held = self.aligner.cut(fetched, self._has_more)
        self._in_batch, gate.abandoned, gate.held = True, False, len(fetched)
        try:
            pending = self.processor.process(records)
            self.checkpoint.write(pending)
        except Abandoned as exc:
            log.warning("batch of %d records abandoned (%s): it is read again",
                        len(records), exc)  # fmt: skip
            assert self.store is not None
            self.store.discard_unsaved()
            gate.rewind()
            return
        finally:
            self._in_batch = False
            gate.resume()
        _count(pending.counts)
        if held:
            self.gate.seek_back(held)
            self.gate.hold_back(self.gate.held_back | set(held))
        metrics.BATCH_SECONDS.observe(time.monotonic() - started)
        metrics.BATCH_RECORDS.observe(len(records))

    def _has_more(self, tp: tuple[str, int], offset: int) -> bool:
        assert self.consumer is not None
        _, high = self.consumer.get_watermark_offsets(TopicPartition(*tp), cached=True)
        return bool(high > offset)

    def _align(self) -> None:
        if self.consumer is not None:
            self.gate.hold_back(self.aligner.ahead(self._has_more))

    def _commit(self, offsets: dict[tuple[str, int], int]) -> None:
        self.gate.commit(offsets)
        self._committed.update(offsets)

    # ---- rebalances ------------------------------------------------------------------

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.gate.in_callback = True
        self.gate.forget_pause()
        try:
            assign_unpaused(consumer, partitions)
            committed = {
                (tp.topic, tp.partition): tp.offset
                for tp in consumer.committed(partitions, timeout=60)
                if tp.offset >= 0
            }
            self._committed.update(committed)
            lead_topics = set(self.config.topics.lead_keyed)
            lead_parts = sorted({tp.partition for tp in partitions if tp.topic in lead_topics})
            for part in lead_parts:
                self._take_over(part, committed)
            log.info("assigned %d partitions (lead partitions %s)", len(partitions), lead_parts)
            self.assigned.set()
        except BaseException as exc:
            log.critical("taking over partitions failed: %r", exc)
            self._on_fatal(exc)
            raise
        finally:
            self.gate.in_callback = False

    def _take_over(self, part: int, committed: dict[tuple[str, int], int]) -> None:
        store = self.store
        assert store is not None
        ch = self.gate.clickhouse
        tps = self.config.topics.lead_partitions_of(part)
        owner = ch(lambda c: last_owner(c, part))
        keep = trusted(store, owner, tps, committed)
        ch(lambda c: take_ownership(c, part, store.store_id))
        if keep:
            log.info("lead partition %d: local state kept (%d leads)", part, store.count(part))
            return
        started = time.monotonic()
        since = int((time.time() - self.config.lead_horizon_days * 86_400) * 1000)
        rebuilt = ch(lambda c: rebuild(c, store, part, self.config.lead_stage, since,
                                       self.processor.segmenter))  # fmt: skip
        store.set_applied({tp: committed[tp] for tp in tps if tp in committed}, new_version())
        metrics.LEADS_REBUILT.inc(rebuilt.leads)
        log.info("lead partition %d: state rebuilt from ClickHouse, %d leads in %.1fs "
                 "(previous owner %s)", part, rebuilt.leads, time.monotonic() - started,
                 owner or "none")  # fmt: skip
        if rebuilt.repair:
            self._repair(part, rebuilt.repair)

    def _repair(self, part: int, states: dict[str, LeadState]) -> None:
        """Write again every fact of leads whose stored facts disagree with their state."""
        facts = self.processor.new_facts()
        for lead_id, state in states.items():
            facts.leads.extend(
                lead_facts(lead_id, part, state, self.config.lead_stage, new_version(),
                           self.config.segments.names)
            )  # fmt: skip
        self.checkpoint.write(Pending(facts, {}, {}, {}, Counts()))
        log.warning("lead partition %d: %d leads had facts a crash left half written; "
                    "written again", part, len(states))  # fmt: skip

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._lost(partitions, "revoked")

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._lost(partitions, "lost")

    def _lost(self, partitions: list[TopicPartition], how: str) -> None:
        if self._in_batch:
            self.gate.abandoned = True
        lead_topics = set(self.config.topics.lead_keyed)
        if self.store is not None:
            for part in {tp.partition for tp in partitions if tp.topic in lead_topics}:
                self.store.forget_partition(part)
        for tp in partitions:
            self._committed.pop((tp.topic, tp.partition), None)
        self.aligner.forget((tp.topic, tp.partition) for tp in partitions)
        self.gate.forget_pause()
        log.info("%s %d partitions", how, len(partitions))

    # ---- metrics -----------------------------------------------------------------------

    def _report_lag(self) -> None:
        if self.consumer is not None:
            self._lag.report_assignment(self.consumer, self._committed)


def _count(counts: Counts) -> None:
    for event_type, n in counts.events.items():
        metrics.EVENTS_IN.labels(event_type=event_type).inc(n)
    for (reason, topic), n in counts.dead.items():
        metrics.DEAD_LETTERS.labels(reason=reason, topic=topic).inc(n)
    for method, n in counts.attributions.items():
        metrics.ATTRIBUTIONS.labels(method=method).inc(n)
    for parent, n in counts.reattributed.items():
        metrics.REATTRIBUTED.labels(parent=parent).inc(n)
    if counts.crm_without_lead:
        metrics.CRM_WITHOUT_LEAD.inc(counts.crm_without_lead)
    if counts.click_news_for_unknown_forms:
        metrics.CLICK_NEWS_UNKNOWN.inc(counts.click_news_for_unknown_forms)
    if counts.raw_contacts:
        metrics.RAW_CONTACT_RECORDS.inc(counts.raw_contacts)
        log.warning(
            "%d record(s) carried raw email/phone fields: ignored and not copied on; "
            "producers must send contact_hashes instead (README: Contact linking)",
            counts.raw_contacts,
        )
    for event_type, t in counts.last_event_time.items():
        metrics.LAST_EVENT_TIME.labels(source=event_type).set(t)
