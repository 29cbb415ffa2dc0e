"""The Faust application: topics, tables and agents wired from one Settings object.

``funnelwatch worker`` runs the app of ``create_pipeline()``. Before the worker
starts consuming, :class:`FunnelWorker` creates every catalogue topic with its
partition count and applies the ClickHouse migrations, so a fresh Kafka and a
fresh ClickHouse are ready without a separate step.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from functools import partial
from typing import Any

import faust
from faust.utils.terminal import SpinnerHandler
from mode.utils.logging import level_number
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from funnelwatch.clickhouse import connect
from funnelwatch.schemas.contracts import Limits
from funnelwatch.schemas.funnel import load_funnel
from funnelwatch.schemas.migrate import migrate
from funnelwatch.settings import Settings, current_settings
from funnelwatch.streams.admin import ensure_topics
from funnelwatch.streams.catalogue import catalogue

from . import agents, faust_fixes, lag, metrics
from .alerting import wiring as alerting
from .sink import FactSink
from .sink_consumer import SinkConsumer

log = logging.getLogger(__name__)


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
        # every log call, and leaves it so: each debug call of Faust and aiokafka then
        # builds a record for nothing, about 6% of the worker's CPU while it drains.
        root = logging.getLogger()
        spinners = [h for h in root.handlers if isinstance(h, SpinnerHandler)]
        for handler in spinners:
            root.removeHandler(handler)
        if spinners:
            root.setLevel(level_number(self.loglevel) or logging.WARNING)

    def stop_and_shutdown(self) -> None:
        try:
            super().stop_and_shutdown()
        finally:
            self.app.pipeline.close()  # type: ignore[attr-defined]


class Pipeline:
    """Everything the worker needs, built once from settings."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.funnel = load_funnel(settings.funnel_file)
        self.catalogue = cat = catalogue(settings)
        self.limits = Limits(
            max_future_skew=timedelta(seconds=settings.max_future_skew_seconds),
            max_cost_micros=settings.max_cost_micros,
            max_age=timedelta(days=settings.max_event_age_days),
        )
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        faust_fixes.install()
        self.app = app = faust.App(
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
            # batching produce requests matters: small requests cost more CPU than records
            producer_linger=0.05,
            producer_max_batch_size=262144,
            stream_buffer_maxsize=8192,
            broker_commit_interval=1.0,
            # A SIGKILLed worker holds its partitions until its session expires: keep it short.
            broker_session_timeout=10.0,
            broker_heartbeat_interval=3.0,
            table_standby_replicas=0,
            Worker=FunnelWorker,
        )
        app.pipeline = self  # type: ignore[attr-defined]
        self.sources = app.topic(*(t.name for t in cat.sources), value_serializer="raw")
        metrics.declare_series(t.name for t in cat.sources)
        self.dead_letter = app.topic(cat.dead_letter.name, value_serializer="raw")
        self.by_click = app.topic(cat.by_click.name, key_serializer="raw", value_serializer="json")
        self.by_lead = app.topic(cat.by_lead.name, key_serializer="raw", value_serializer="json")
        self.facts = app.topic(cat.facts.name, key_serializer="raw", value_serializer="json")

        def table(name: str) -> Any:
            # Keys are str, values JSON (the app's default value serializer).
            return app.Table(name, partitions=settings.partitions, key_type=str)

        self.clicks = table("clicks")
        self.waiting_for_click = table("waiting_for_click")
        self.leads = table("leads")
        self.sink = FactSink(
            partial(connect, settings.effective_clickhouse_url),
            self.funnel,
            settings.rolling_windows_minutes,
            roll_interval=settings.rolling_interval_seconds,
        )
        self.sink_executor = ThreadPoolExecutor(1, thread_name_prefix="clickhouse-sink")
        self.sink_consumer = SinkConsumer(
            settings.kafka_bootstrap,
            cat.facts.name,
            f"{settings.app_id}-sink",
            self.sink,
            self.sink_executor,
            settings.sink_batch_size,
            settings.sink_batch_seconds,
        )
        agents.register(self)
        faust_fixes.watch_stalls(app)
        lag.register(self)

        @app.task  # type: ignore[untyped-decorator]
        async def roll_idle() -> None:
            # Rolling conversions of the last batches, when no new batch triggers it. A
            # loop, not a timer: the roll waits behind the sink's flushes on a busy worker.
            loop = asyncio.get_running_loop()
            while True:
                await asyncio.sleep(settings.sink_batch_seconds)
                await loop.run_in_executor(self.sink_executor, self.sink.roll_if_due)

        self.alerting = alerting.register(self)

        @app.page("/metrics")
        async def metrics_page(web: Any, request: Any) -> Any:
            return web.bytes(generate_latest(), content_type=CONTENT_TYPE_LATEST.split(";")[0])

        # KPI API, ingest, live board and bid advisor (processors/web, processors/bids.py)
        from .web.api import register_web

        register_web(self)

    def prepare(self) -> None:
        """Create topics and migrate ClickHouse (idempotent; runs before consuming)."""
        s = self.settings
        ensure_topics(s.kafka_bootstrap, self.catalogue.all(), s.replication_factor, log.info)
        # The sink thread owns the connection (chDB allows one session per process).
        self.sink_executor.submit(lambda: migrate(self.sink.client, log.info)).result()
        log.info("ClickHouse ready at %s", s.clickhouse_url_redacted)

    def close(self) -> None:
        """Close ClickHouse from the sink's thread, once the worker has stopped.

        chDB must be closed explicitly: left to interpreter exit, its engine shuts down
        after its session's thread is gone and the process dies by SIGSEGV.
        """
        self.sink_executor.submit(self.sink.close).result()
        self.sink_executor.shutdown()


def create_pipeline(settings: Settings | None = None) -> Pipeline:
    return Pipeline(settings or current_settings())
