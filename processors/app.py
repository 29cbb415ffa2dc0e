"""The worker: a Faust application around the project's own hot path.

Faust runs the worker process: its command line, the web server (metrics, API,
ingest, board), timers, and the lifecycle of every service. It does not consume: the
hot path (:mod:`.hotpath`) and the roller (:mod:`.rollup.roller`) own their Kafka
consumers and run on their own threads, started and stopped here. Before anything
runs, :class:`FunnelWorker` creates every catalogue topic with its partition count and
applies the ClickHouse migrations, so a fresh Kafka and a fresh ClickHouse are ready
without a separate step. The web server serves funnelwatch's views only: Faust's own
(table data, router, statistics, graph) are off through Faust's settings, and
``/metrics`` answers whom ``web_pages_access`` lets in (:mod:`.web.access`).

This module is the one place that reads :class:`~funnelwatch.settings.Settings` and
builds each component's own configuration from it.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from datetime import timedelta
from functools import partial
from typing import Any

import faust
from faust.app import BootStrategy
from faust.utils.terminal import SpinnerHandler
from mode import Service
from mode.utils.logging import level_number
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from funnelwatch.clickhouse import ClickHouse, connect
from funnelwatch.schemas.contracts import Limits
from funnelwatch.schemas.funnel import Funnel, load_funnel
from funnelwatch.schemas.migrate import migrate
from funnelwatch.schemas.segments import SegmentSet, load_segments
from funnelwatch.settings import Settings, current_settings
from funnelwatch.streams.admin import ensure_topics
from funnelwatch.streams.catalogue import Catalogue, catalogue

from . import metrics
from .alerting import wiring as alerting
from .cohorts import contact_deadline
from .hotpath.config import HotPathConfig, Topics
from .hotpath.loop import HotPath
from .reader import Reader
from .rollup.roller import Roller
from .web.access import Access, Denied, require_pages

log = logging.getLogger(__name__)
# The ClickHouse driver warns on each failed connection and reconnect: during an outage
# that is lines per second per thread. The gates report outages, a few lines each.
logging.getLogger("clickhouse_driver").setLevel(logging.ERROR)


class _WithoutFaustConsumer(BootStrategy):
    # The hot path and the roller consume with clients of their own; Faust's consumer
    # (and the table, agent and leader services that need it) would only join a group.
    enable_kafka_consumer = False


class FunnelApp(faust.App):
    BootStrategy = _WithoutFaustConsumer


class FunnelWorker(faust.Worker):
    """The Faust worker, preceded by topic creation and ClickHouse migrations."""

    async def on_first_start(self) -> None:
        pipeline: Pipeline = self.app.pipeline  # type: ignore[attr-defined]
        try:
            await asyncio.get_running_loop().run_in_executor(None, pipeline.prepare)
        except Exception as exc:
            # Faust exits quietly on a failed first start: say why, on stderr, before it does.
            print(f"funnelwatch: cannot start the worker: {exc}", file=sys.stderr, flush=True)
            raise
        await super().on_first_start()

    def _on_startup_end_spinner(self) -> None:
        super()._on_startup_end_spinner()
        # Faust turns the root logger to DEBUG so that its start-up spinner turns on
        # every log call, and leaves it so: each debug call then builds a record for
        # nothing. Restore the configured level once the worker is up.
        root = logging.getLogger()
        spinners = [h for h in root.handlers if isinstance(h, SpinnerHandler)]
        for handler in spinners:
            root.removeHandler(handler)
        if spinners:
            root.setLevel(level_number(self.loglevel) or logging.WARNING)


def hot_path_config(
    settings: Settings, cat: Catalogue, funnel: Funnel, segments: SegmentSet
) -> HotPathConfig:
    return HotPathConfig(
        bootstrap=settings.kafka_bootstrap,
        group_id=settings.app_id,
        topics=Topics(
            clicks=cat.clicks.name,
            forms=cat.forms.name,
            crm=cat.crm.name,
            spend=cat.spend.name,
            by_lead=cat.by_lead.name,
            dead_letter=cat.dead_letter.name,
            rollup=cat.rollup.name,
            partitions=settings.partitions,
        ),
        funnel=funnel,
        limits=limits_of(settings),
        state_dir=settings.data_dir / "state" / settings.app_id,
        batch_max_records=settings.batch_max_records,
        batch_max_seconds=settings.batch_max_seconds,
        click_cache_size=settings.click_cache_size,
        lead_cache_size=settings.lead_cache_size,
        click_horizon_days=settings.click_horizon_days,
        lead_horizon_days=settings.lead_horizon_days,
        session_timeout_seconds=settings.consumer_session_timeout_seconds,
        max_poll_interval_seconds=settings.consumer_max_poll_interval_seconds,
        retry_max_seconds=settings.retry_max_seconds,
        segments=segments,
    )


def limits_of(settings: Settings) -> Limits:
    return Limits(
        max_future_skew=timedelta(seconds=settings.max_future_skew_seconds),
        max_cost_micros=settings.max_cost_micros,
        max_age=timedelta(days=settings.max_event_age_days),
    )


class Pipeline:
    """Everything the worker runs, built once from settings."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.funnel = load_funnel(settings.funnel_file)
        self.segments = load_segments(settings.segments_file)
        self.contact_deadline = contact_deadline(
            settings.uncontacted_after_minutes,
            settings.uncontacted_after_minutes_by_form_type,
            self.segments.lead_dimension_of("form_type"),
            "uncontacted_after_minutes_by_form_type" in settings.model_fields_set,
        )
        self.catalogue = cat = catalogue(settings)
        self.limits = limits_of(settings)
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.app = app = FunnelApp(
            settings.app_id,
            broker=[f"kafka://{h.strip()}" for h in settings.kafka_bootstrap.split(",")],
            store="memory://",
            datadir=str(settings.data_dir / "faust"),
            topic_partitions=settings.partitions,
            topic_replication_factor=settings.replication_factor,
            topic_allow_declare=False,
            web_port=settings.web_port,
            web_bind=settings.web_bind,
            web_host=settings.web_bind,
            producer_acks=-1,
            Worker=FunnelWorker,
            # Faust's own views serve table data (/table/<name>/<key>/), the cluster's
            # topology (/router/), sensor counters, the assignment and the service graph:
            # none of it is for clients, so every one is off (404) through its setting.
            web_tables_enabled=False,
            web_router_enabled=False,
            web_stats_enabled=False,
            web_graph_enabled=False,
            web_metrics_enabled=False,
        )
        app.pipeline = self  # type: ignore[attr-defined]
        self.access = Access.from_settings(settings)
        url = settings.effective_clickhouse_url
        self.connect_clickhouse = partial(connect, url)
        self.hot_config = config = hot_path_config(settings, cat, self.funnel, self.segments)
        self.hot_path = HotPath(config, self.connect_clickhouse)
        self.roller = Roller(
            config,
            self.connect_clickhouse,
            self.funnel,
            settings.rolling_windows_minutes,
            settings.rolling_interval_seconds,
        )
        self.reader = Reader(url)
        metrics.declare_series(t.name for t in cat.sources)
        self._register_threads()
        self.alerting = alerting.register(self)

        @app.page("/metrics")
        async def metrics_page(web: Any, request: Any) -> Any:
            try:
                require_pages(settings.web_pages_access, self.access, request)
            except Denied as refusal:
                return web.json(
                    refusal.body(), status=refusal.status, headers=dict(refusal.headers)
                )
            return web.bytes(generate_latest(), content_type=CONTENT_TYPE_LATEST.split(";")[0])

        # KPI API, ingest, live board and bid advisor (processors/web, processors/bids)
        from .web.api import register_web

        register_web(self)

    def _register_threads(self) -> None:
        pipeline = self

        @self.app.service
        class Threads(Service):
            """Starts the hot path and the roller with the worker, stops them with it."""

            async def on_start(self) -> None:
                pipeline.hot_path.start()
                pipeline.roller.start()

            async def on_stop(self) -> None:
                loop = asyncio.get_running_loop()
                await loop.run_in_executor(None, pipeline.hot_path.stop)
                await loop.run_in_executor(None, pipeline.roller.stop)
                await loop.run_in_executor(None, pipeline.reader.close)

    def prepare(self) -> None:
        """Create topics and migrate ClickHouse (idempotent; runs before consuming)."""
        s = self.settings
        ensure_topics(s.kafka_bootstrap, self.catalogue.all(), s.replication_factor, log.info)
        client: ClickHouse = self.connect_clickhouse()
        try:
            migrate(client, log.info)
        finally:
            client.close()
        log.info("ClickHouse ready at %s", s.clickhouse_url_redacted)


def create_pipeline(settings: Settings | None = None) -> Pipeline:
    return Pipeline(settings or current_settings())
