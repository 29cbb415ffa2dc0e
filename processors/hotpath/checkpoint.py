"""The checkpoint: one batch made durable, in the one order that keeps it exact.

1. ClickHouse: the contact hashes of the batch's forms (``lead_contacts``), the spend
   reports (``ad_spend``), then the batch's facts (the click and lead indexes follow by
   materialized views); then, for the clicks just written, the forms that were waiting
   for them, whose owners are told through ``by-lead``;
2. the lead store: the states the batch changed;
3. the producer: every record the batch produced (forwards, dead letters, click news)
   and the rollup notice naming the minutes whose KPIs must be recomputed, flushed
   until the broker acknowledged all of them;
4. the consumer: the batch's offsets, committed synchronously;
5. the lead store again: the offsets Kafka confirmed.

A crash anywhere leaves the offsets uncommitted, so the batch is read again; every
write is idempotent or versioned (see the attribution and state packages), so reading
it again converges to the same rows. A crash between 2 and 3 leaves states that hold
the batch's events with no notice sent: the replay writes no facts for them, so its
notice names the minutes of every lead that met an event it held
(``Pending.replayed_minutes``). Steps that wait on a service run through the
loop's gates, which pause the partitions and retry until the service is back.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import msgspec

from funnelwatch.clickhouse import ClickHouse
from funnelwatch.connectors.contacts import record_contacts

from .. import metrics
from ..rollup.versions import new_version
from ..spend.reports import write_spend
from ..state.clicks import ClickCache
from ..state.leads import LeadStore
from ..state.waiting import waiting_for
from .batch import CLICK_ARRIVED, ClicksRead, Pending, Producer, RunInClickHouse, click_news
from .config import Topics

_encode = msgspec.msgpack.Encoder().encode


class Checkpoint:
    def __init__(
        self,
        topics: Topics,
        store: LeadStore,
        clicks: ClickCache,
        producer: Producer,
        clickhouse: RunInClickHouse[Any],
        flush: Callable[[], None],
        commit: Callable[[dict[tuple[str, int], int]], None],
    ) -> None:
        self.topics = topics
        self.store = store
        self.clicks = clicks
        self.producer = producer
        self.clickhouse = clickhouse
        self.flush = flush
        self.commit = commit

    def write(self, pending: Pending) -> None:
        minutes = pending.minutes
        contacts = pending.contacts
        if contacts:  # a replay writes them again, whether or not its facts changed
            self.clickhouse(lambda c: record_contacts(c, contacts))
        spend = pending.spend
        if spend:
            self.clickhouse(lambda c: write_spend(c, spend))
        if len(pending.facts):
            started = time.monotonic()
            columns = pending.facts.columns()
            self.clickhouse(lambda c: c.insert_columns("funnel_facts", columns))
            self._tell_waiting_forms(pending)
            metrics.SINK_FLUSH_SECONDS.observe(time.monotonic() - started)
            metrics.FACTS_WRITTEN.inc(len(pending.facts))
        for partition, states in pending.states.items():
            if states:
                self.store.save(partition, states)
        if minutes:
            self.producer.produce(self.topics.rollup, value=_encode(sorted(minutes)), partition=0)
        self.flush()
        if pending.commit:
            self.commit(pending.commit)
            lead_keyed = set(self.topics.lead_keyed)
            self.store.set_applied(
                {tp: o for tp, o in pending.commit.items() if tp[0] in lead_keyed},
                new_version(),
            )

    def _tell_waiting_forms(self, pending: Pending) -> None:
        for topic, read in pending.clicks.items():

            def waiting(client: ClickHouse, topic: str = topic, read: ClicksRead = read) -> Any:
                return waiting_for(client, topic, sorted(read.minutes), read.offsets)

            for form in self.clickhouse(waiting):
                segment = self.clicks.get(form.click_id)
                if segment is None:
                    continue
                self.producer.produce(
                    self.topics.by_lead,
                    value=click_news(form, segment),
                    key=form.lead_id.encode(),
                    partition=form.lead_partition,
                    headers=[("kind", CLICK_ARRIVED)],
                )
