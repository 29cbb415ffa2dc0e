"""The *Pipeline health* board, from the worker's Prometheus metrics.

Every metric named here is one the worker exports (processors/metrics.py, plus the
consumer lag gauge); a unit test checks the names and the labels the queries group by.
"""

from __future__ import annotations

from .board import Board
from .panels import prom_panel

UID = "funnelwatch-pipeline-health"

#: (title, {legend: PromQL}, unit, description)
PANELS: tuple[tuple[str, dict[str, str], str, str], ...] = (
    (
        "Throughput: valid events per second",
        {
            "{{event_type}}": "sum by (event_type) "
            "(rate(funnelwatch_events_total[$__rate_interval]))"
        },
        "reqps",
        "Valid events accepted by the worker, per event type.",
    ),
    (
        "Consumer lag",
        {"{{topic}}": "sum by (topic) (funnelwatch_consumer_lag)"},
        "short",
        "Records not yet consumed, per topic (summed over partitions).",
    ),
    (
        "Dead letters per second",
        {
            "{{reason}} ({{topic}})": "sum by (reason, topic) "
            "(rate(funnelwatch_dead_letters_total[$__rate_interval]))"
        },
        "reqps",
        "Records routed to the dead-letter topic, by reason and source topic.",
    ),
    (
        "Sink latency",
        {
            "p50": "histogram_quantile(0.5, sum by (le) "
            "(rate(funnelwatch_sink_flush_seconds_bucket[$__rate_interval])))",
            "p95": "histogram_quantile(0.95, sum by (le) "
            "(rate(funnelwatch_sink_flush_seconds_bucket[$__rate_interval])))",
        },
        "s",
        "Time to make one batch of facts durable in ClickHouse.",
    ),
    (
        "Time since the last event, per source",
        {"{{source}}": "time() - max by (source) (funnelwatch_last_event_timestamp_seconds)"},
        "s",
        "Wall clock minus the event time of the newest valid event of each source.",
    ),
    (
        "Facts written and sink errors per second",
        {
            "facts written": "sum(rate(funnelwatch_facts_written_total[$__rate_interval]))",
            "errors {{kind}}": "sum by (kind) (rate(funnelwatch_sink_errors_total"
            "[$__rate_interval]))",
        },
        "reqps",
        "",
    ),
    (
        "Active detector alerts",
        {"{{kind}}": "sum by (kind) (funnelwatch_alerts_active)"},
        "short",
        "Open incidents raised by the worker's detectors.",
    ),
    (
        "Rolling conversions pending",
        {"pending": "max(funnelwatch_rolling_pending)"},
        "short",
        "1 while per-minute KPIs changed that the rolling conversions do not reflect yet.",
    ),
)


def board() -> Board:
    return Board(
        uid=UID,
        title="Pipeline health",
        description="Throughput, consumer lag, dead letters, sink latency and freshness "
        "of the funnelwatch worker (Prometheus).",
        panels=[
            prom_panel(title, exprs, unit=unit, description=desc)
            for title, exprs, unit, desc in PANELS
        ],
        refresh="15s",
        time_from="now-1h",
    )
