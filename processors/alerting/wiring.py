"""Wiring of the detector service into the Faust worker.

A timer runs one detector step every ``alert_interval_seconds`` on the reader's
ClickHouse thread, then sets the ``funnelwatch_alerts_active`` gauge and hands the
alert states to the dispatcher. Only the worker that holds the rollup (the group's
leader, :class:`~funnelwatch.processors.rollup.roller.Roller`) runs detectors, so a
group of workers alerts once, and another worker takes over when it dies. A
step that fails (ClickHouse down) leaves the in-memory detectors in an unknown
state: they are rebuilt from ClickHouse on the next step (warm-up from the cursor).
Before each step the consumer groups' lag is read from Kafka (:mod:`.backlog`), so
the service judges no minute a backlog may still add events to. On the first step
the dispatcher reads what was already delivered and queues the
recent alert states that were not (the outbox), so nothing is lost or sent twice
across restarts.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import aiohttp

from funnelwatch.clickhouse import ClickHouse

from .. import metrics
from ..detectors import Alert, DetectorConfig
from ..quiet import Quieter
from . import store
from .backlog import PipelineBacklog
from .delivery import Dispatcher, Target, now, webhook_targets
from .service import DetectorService

if TYPE_CHECKING:
    from ..app import Pipeline

log = logging.getLogger(__name__)

T = TypeVar("T")
OUTBOX_SECONDS = 7 * 86_400


def set_gauge(alert: Alert) -> None:
    metrics.ALERTS_ACTIVE.labels(
        kind=alert.kind,
        campaign_id=alert.campaign_id,
        from_stage=alert.from_stage,
        to_stage=alert.to_stage,
    ).set(1 if alert.status == "firing" else 0)


class Alerting:
    def __init__(self, pipeline: Pipeline) -> None:
        s = pipeline.settings
        self.pipeline = pipeline
        self.settings = s
        self.topic = pipeline.app.topic(
            pipeline.catalogue.alerts.name, key_serializer="raw", value_serializer="json"
        )
        self.service = self._new_service()
        cat = pipeline.catalogue
        self.backlog = PipelineBacklog(
            s.kafka_bootstrap,
            {
                s.app_id: [*cat.sources, cat.by_lead],
                f"{s.app_id}-rollup": [cat.rollup],
            },
            s.alert_backlog_max_lag,
        )
        self.dispatcher: Dispatcher | None = None
        self.session: aiohttp.ClientSession | None = None
        self.tasks: list[asyncio.Future[Any]] = []
        self.rebuilt = False
        self._quiet = Quieter(log)

    def _new_service(self) -> DetectorService:
        s = self.settings
        return DetectorService(
            DetectorConfig.from_settings(s),
            self.pipeline.funnel,
            s.alert_grace_minutes,
            s.alert_warmup_hours,
            s.alert_stage_idle_seconds,
            s.alert_settle_seconds,
        )

    async def in_db(self, fn: Callable[[ClickHouse], T]) -> T:
        return await self.pipeline.reader.run(fn)

    async def _kafka(self, alert: Alert) -> None:
        future = await self.topic.send(key=alert.campaign_id.encode(), value=alert.as_message())
        await future  # the broker acknowledged it

    async def _record(self, alert: Alert, target: str) -> None:
        await self.in_db(
            lambda c: store.record_delivery(c, alert.alert_id, alert.status, target, now())
        )

    async def _start_dispatcher(self) -> Dispatcher:
        s = self.settings
        if self.session is None:  # one session, however many starts fail on ClickHouse
            self.session = aiohttp.ClientSession()
        targets = [
            Target("kafka", self._kafka),
            *webhook_targets(self.session, s.alert_webhook_url, s.alert_slack_webhook_url),
        ]
        d = Dispatcher(
            targets,
            self._record,
            s.alert_webhook_max_attempts,
            lambda target: metrics.ALERT_DELIVERY_FAILURES.labels(target=target).inc(),
        )
        d.delivered = await self.in_db(store.delivered)
        for target in targets:
            self.tasks.append(asyncio.ensure_future(d.run(target)))
        await self._outbox(d)
        return d

    async def _outbox(self, d: Dispatcher) -> None:
        """Queue the recent alert states ClickHouse holds that were not delivered."""
        for alert in await self.in_db(lambda c: store.recent_alerts(c, now() - OUTBOX_SECONDS)):
            d.submit(alert)

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await self.backlog.close()
        if self.session is not None:
            await self.session.close()

    async def tick(self) -> None:
        try:
            if self.dispatcher is None:
                self.dispatcher = await self._start_dispatcher()
            elif self.rebuilt:
                # the failed step may have written alerts it never handed over
                await self._outbox(self.dispatcher)
            self.rebuilt = False
            caught_up = await self.backlog.check()
            alerts = await self.in_db(lambda c: self.service.step(c, caught_up))
        except Exception as exc:  # ClickHouse away: rebuild the detectors next time
            self._quiet(logging.WARNING, "step", f"detector step failed, rebuilding from "
                        f"ClickHouse: {exc}")  # fmt: skip
            self.service = self._new_service()
            self.rebuilt = True
            return
        metrics.DETECTOR_STEPS.inc()
        metrics.DETECTOR_CURSOR.set(self.service.cursor or 0)
        for incident in self.service.tracker.open.values():
            set_gauge(incident.alert)
        for alert in alerts:
            log.warning("alert %s: %s", alert.status, alert.summary)
            set_gauge(alert)
            self.dispatcher.submit(alert)


def register(pipeline: Pipeline) -> Alerting:
    alerting = Alerting(pipeline)

    @pipeline.app.timer(pipeline.settings.alert_interval_seconds)  # type: ignore[untyped-decorator]
    async def detect() -> None:
        if pipeline.roller.is_leader:
            await alerting.tick()

    @pipeline.app.on_before_shutdown.connect  # type: ignore[arg-type]
    async def close_deliveries(app: Any, **kwargs: Any) -> None:
        await alerting.close()

    return alerting
