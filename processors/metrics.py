"""Prometheus metrics of the worker (served at /metrics by the Faust web server).

Every series is declared here, once; the hot path adds a batch's counts after its
checkpoint (one call per series and batch, not per event)."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import Counter, Gauge, Histogram

from funnelwatch.schemas.contracts import REJECT_REASONS
from funnelwatch.schemas.events import EVENT_TYPES

from .attribution.rules import RANKS

EVENTS_IN = Counter(
    "funnelwatch_events_total", "Valid events accepted, by event type", ["event_type"]
)
DEAD_LETTERS = Counter(
    "funnelwatch_dead_letters_total", "Records sent to the dead-letter topic", ["reason", "topic"]
)
ATTRIBUTIONS = Counter(
    "funnelwatch_attributions_total",
    "Leads attributed, by method (click, utm, none); a late click counts again as click",
    ["method"],
)
CRM_WITHOUT_LEAD = Counter(
    "funnelwatch_crm_without_lead_total",
    "CRM events that arrived before any form of their lead (counted unattributed until it does)",
)
REATTRIBUTED = Counter(
    "funnelwatch_reattributed_total",
    "Children emitted again because their parent arrived late",
    ["parent"],
)
FACTS_WRITTEN = Counter("funnelwatch_facts_written_total", "Facts written to ClickHouse")
SINK_FLUSH_SECONDS = Histogram(
    "funnelwatch_sink_flush_seconds",
    "Time to make one batch's facts durable in ClickHouse",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
BATCH_SECONDS = Histogram(
    "funnelwatch_batch_seconds",
    "Time from a batch's records in hand to its offsets committed",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
BATCH_RECORDS = Histogram(
    "funnelwatch_batch_records",
    "Records per batch of the hot path",
    buckets=(1, 10, 100, 1000, 5000, 10_000, 25_000, 50_000, 100_000),
)
CLICK_NEWS_UNKNOWN = Counter(
    "funnelwatch_click_news_unknown_form_total",
    "Late-click news for a form its lead's owner does not know (read again with its click)",
)
RAW_CONTACT_RECORDS = Counter(
    "funnelwatch_raw_contact_records_total",
    "Records carrying raw email/phone fields (ignored, never copied on: send contact_hashes)",
)
LEADS_REBUILT = Counter(
    "funnelwatch_leads_rebuilt_total",
    "Leads whose state a worker rebuilt from ClickHouse on taking over their partition",
)
SINK_ERRORS = Counter("funnelwatch_sink_errors_total", "Failed ClickHouse writes", ["kind"])
LAST_EVENT_TIME = Gauge(
    "funnelwatch_last_event_timestamp_seconds", "Event time of the newest valid event", ["source"]
)
ROLLING_PENDING = Gauge(
    "funnelwatch_rolling_pending",
    "1 while per-minute KPIs changed that the rolling conversions do not reflect yet",
)
ALERTS_ACTIVE = Gauge(
    "funnelwatch_alerts_active",
    "1 while a detector alert is firing (one series per open incident), 0 after it resolved",
    ["kind", "campaign_id", "from_stage", "to_stage"],
)
CONSUMER_LAG = Gauge(
    "funnelwatch_consumer_lag",
    "Records in a partition this worker consumes that its group has not committed yet "
    "(log end offset minus committed offset), refreshed every few seconds",
    ["topic", "partition"],
)


ALERT_DELIVERY_FAILURES = Counter(
    "funnelwatch_alert_delivery_failures_total",
    "Alert states a target (kafka, webhook, slack) did not accept after every retry",
    ["target"],
)
DETECTOR_STEPS = Counter(
    "funnelwatch_detector_steps_total",
    "Detector steps completed (each judges the minutes closed since the previous one)",
)
DETECTOR_CURSOR = Gauge(
    "funnelwatch_detector_cursor_timestamp_seconds",
    "Last minute the detectors judged (event time); 0 before any",
)
CRM_DELIVERIES = Counter(
    "funnelwatch_crm_deliveries_total",
    "CRM webhook requests by provider and answer (accepted, unauthorized, malformed, "
    "rate_limited, unavailable, disabled)",
    ["provider", "outcome"],
)
CRM_RECORDS = Counter(
    "funnelwatch_crm_records_total",
    "CRM status changes received, by provider and what became of them: produced_lead_id, "
    "produced_contact, produced_unlinked (linked to no lead: produced as unattributed), "
    "unmapped (stage not in the mapping: stored in ClickHouse), or ignored_<reason>",
    ["provider", "outcome"],
)
CRM_UNMAPPED = Counter(
    "funnelwatch_crm_unmapped_total",
    "CRM records whose pipeline/stage the mapping does not know (kept in crm_unmapped; "
    "`funnelwatch crm unmapped` lists them), by provider and pipeline",
    ["provider", "pipeline"],
)


def declare_series(source_topics: Iterable[str]) -> None:
    """Create every counter series whose labels are known in advance, at 0.

    Prometheus takes the first sample of a series as its start, not as an increase from
    zero: a series born after a burst shows no rate for that burst (a worker can route
    thousands of records between two scrapes). Series declared before the first record
    make rate() and increase() see every count.
    """
    for event_type in EVENT_TYPES:
        EVENTS_IN.labels(event_type=event_type)
    for topic in source_topics:
        for reason in REJECT_REASONS:
            DEAD_LETTERS.labels(reason=reason, topic=topic)
    for method in RANKS:
        ATTRIBUTIONS.labels(method=method)
    for parent in ("click", "lead"):
        REATTRIBUTED.labels(parent=parent)
    for kind in ("retry", "fatal"):
        SINK_ERRORS.labels(kind=kind)
