"""The shipped Prometheus rules and Alertmanager config, on the real Debian servers.

Prometheus (1 s scrape and evaluation) scrapes a real worker, run against the session
Kafka and embedded chDB, and a metrics endpoint the test controls; Alertmanager runs
the shipped ``alertmanager.yml`` with its webhook pointed at a receiver in the test and
its route timings shortened to seconds. The test endpoint exports
``funnelwatch_alerts_active`` — the detectors' contract — so the shipped funnel rule
fires without depending on a detector; the worker's own metrics prove the scrape, the
consumer-lag gauge and the recording rules on real data. A SIGKILLed worker proves the
shipped worker-down rule (its real ``for: 1m``) and the inhibition of funnel alerts.
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import pytest
from prometheus_client import CollectorRegistry, Gauge, start_http_server

from funnelwatch.localstack.ports import free_port
from funnelwatch.localstack.prometheus import LocalAlertmanager, LocalPrometheus
from tests.support.pipeline import PipelineEnv, stop

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
RULES = sorted((ROOT / "monitoring" / "prometheus" / "rules").glob("*.yml"))
ALERTMANAGER_YML = ROOT / "monitoring" / "alertmanager" / "alertmanager.yml"
#: seconds instead of the shipped minutes; routing, grouping and inhibition as shipped
FAST = {"group_wait": "1s", "group_interval": "1s", "repeat_interval": "1h"}

T = TypeVar("T")


def wait_for(probe: Callable[[], T | None], what: str, timeout: float = 30.0) -> T:
    """Poll ``probe`` until it returns something truthy; fail with ``what`` on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.25)


@dataclass
class ScrapedWorker:
    """A worker and a test-controlled detector endpoint, both scraped by Prometheus."""

    env: PipelineEnv
    worker: subprocess.Popen[bytes]
    #: ``funnelwatch_alerts_active`` as the test sets it
    active: Gauge
    prometheus: LocalPrometheus
    worker_target: str
    detector_target: str


@contextlib.contextmanager
def scraped_worker(
    kafka_bootstrap: str,
    tmp_path: Path,
    alertmanager: LocalAlertmanager,
    prefix: str,
    partitions: int,
) -> Iterator[ScrapedWorker]:
    """A context manager, not a fixture: a test can time the set-up and tear-down too."""
    env = PipelineEnv(
        kafka_bootstrap,
        f"chdb://{tmp_path / 'chdb'}",
        tmp_path / "worker",
        name=f"{prefix}-{int(time.time() * 1000)}",
        partitions=partitions,
    )
    env.home.mkdir()
    worker = env.start_worker()
    # The detectors' contract, served by the test: one series per open incident.
    registry = CollectorRegistry()
    active = Gauge(
        "funnelwatch_alerts_active",
        "1 while a detector alert is firing",
        ["kind", "campaign_id", "from_stage", "to_stage"],
        registry=registry,
    )
    detector_port = free_port()
    detector_server, _ = start_http_server(detector_port, addr="127.0.0.1", registry=registry)
    worker_target = f"127.0.0.1:{env.web_port}"
    detector_target = f"127.0.0.1:{detector_port}"
    prometheus = LocalPrometheus(
        [worker_target, detector_target],
        RULES,
        [alertmanager.address],
        home=tmp_path / "prometheus",
    )
    try:
        prometheus.start()
        yield ScrapedWorker(env, worker, active, prometheus, worker_target, detector_target)
    finally:
        prometheus.stop()
        detector_server.shutdown()
        stop(worker)


class WebhookReceiver:
    """Records every JSON body Alertmanager posts to it."""

    def __init__(self) -> None:
        self.notifications: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with owner._lock:
                    owner.notifications.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep pytest's output readable

        self._server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_port}/alerts"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def received(self, predicate: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        with self._lock:
            return [n for n in self.notifications if predicate(n)]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    hook = WebhookReceiver()
    try:
        yield hook
    finally:
        hook.close()


@pytest.fixture
def alertmanager(tmp_path: Path, receiver: WebhookReceiver) -> Iterator[LocalAlertmanager]:
    with LocalAlertmanager(
        ALERTMANAGER_YML, receiver.url, home=tmp_path / "alertmanager", timings=FAST
    ) as am:
        yield am


def _campaign_notifications(
    hook: WebhookReceiver, campaign: str, status: str
) -> list[dict[str, Any]]:
    return hook.received(
        lambda n: n["groupLabels"] == {"campaign_id": campaign} and n["status"] == status
    )


def test_worker_is_scraped_and_a_funnel_alert_reaches_the_webhook_once_per_campaign(
    kafka_bootstrap: str,
    tmp_path: Path,
    receiver: WebhookReceiver,
    alertmanager: LocalAlertmanager,
    measured: Callable[[str], None],
) -> None:
    started = time.monotonic()
    with scraped_worker(kafka_bootstrap, tmp_path, alertmanager, "prom", partitions=2) as run:
        env, worker, active, prometheus = run.env, run.worker, run.active, run.prometheus
        worker_target, detector_target = run.worker_target, run.detector_target
        wait_for(lambda: env.metric("funnelwatch_rolling_pending") is not None, "the worker")
        wait_for(
            lambda: prometheus.query(f'up{{job="funnelwatch", instance="{worker_target}"}} == 1'),
            "Prometheus to scrape the worker",
        )
        # The counters exist at zero before the first record: a series born after a
        # burst would show Prometheus no increase, and the ratio below would stay empty.
        wait_for(
            lambda: prometheus.query(
                f'funnelwatch_dead_letters_total{{instance="{worker_target}", '
                f'reason="schema", topic="{env.name}.ad-clicks"}} == 0'
            ),
            "the dead-letter counter at zero before any record",
        )
        # Records sent while Prometheus watches, so rates are not zero: 2,000 of them,
        # 5% malformed, for throughput, dead letters and lag on real data.
        env.run("simulate", "--events", "2000", "--malformed", "0.05", "--seed", "3")

        # Prometheus scrapes the real worker and the shipped recording rules run on it.
        # a source, the internal hop of forms and CRM events, and the roller's notices (the
        # hot path and the roller report their lag each on their own clock)
        wanted = {f"{env.name}.{t}" for t in ("ad-clicks", "by-lead", "rollup")}

        def lag_of_every_hop() -> list[dict[str, Any]] | None:
            found = prometheus.query(f'funnelwatch_consumer_lag{{instance="{worker_target}"}}')
            topics = {s["metric"]["topic"] for s in found or []}
            return found if wanted <= topics else None

        lag = wait_for(lag_of_every_hop, "the worker's consumer lag of every hop in Prometheus")
        assert wanted <= {s["metric"]["topic"] for s in lag}
        # about 5% malformed sent; the first evaluations may see only part of the rates
        ratio = wait_for(
            lambda: prometheus.query("funnelwatch:dead_letter_ratio:rate5m > 0.01"),
            "the dead-letter ratio recording rule",
        )
        assert float(ratio[0]["value"][1]) < 0.2
        wait_for(
            lambda: prometheus.query(
                f'sum(funnelwatch_consumer_lag{{instance="{worker_target}"}}) == 0'
            ),
            "the worker's lag to drain to zero",
        )

        # Two incidents of one campaign and one of another: two notifications, by campaign.
        active.labels("stall", "cmp-a", "click", "lead").set(1)
        active.labels("conversion_drop", "cmp-a", "lead", "contacted").set(1)
        active.labels("conversion_drop", "cmp-b", "click", "lead").set(1)
        firing_a = wait_for(
            lambda: _campaign_notifications(receiver, "cmp-a", "firing"),
            "the cmp-a notification at the webhook",
        )
        wait_for(
            lambda: _campaign_notifications(receiver, "cmp-b", "firing"),
            "the cmp-b notification at the webhook",
        )
        first = firing_a[0]
        assert first["receiver"] == "funnelwatch-webhook"
        kinds = sorted(
            (a["labels"]["kind"], a["labels"]["from_stage"], a["labels"]["to_stage"])
            for a in first["alerts"]
        )
        assert kinds == [("conversion_drop", "lead", "contacted"), ("stall", "click", "lead")]
        for alert in first["alerts"]:
            assert alert["status"] == "firing"
            assert alert["labels"]["alertname"] == "FunnelConversionAlert"
            assert alert["labels"]["severity"] == "page"
            assert alert["labels"]["instance"] == detector_target
            assert "campaign cmp-a" in alert["annotations"]["summary"]
        assert all(
            a["labels"]["campaign_id"] == "cmp-b"
            for n in _campaign_notifications(receiver, "cmp-b", "firing")
            for a in n["alerts"]
        )

        # The detector resolves cmp-a: a resolved notification follows.
        active.labels("stall", "cmp-a", "click", "lead").set(0)
        active.labels("conversion_drop", "cmp-a", "lead", "contacted").set(0)
        resolved = wait_for(
            lambda: _campaign_notifications(receiver, "cmp-a", "resolved"),
            "the cmp-a resolved notification",
        )
        assert {a["status"] for a in resolved[0]["alerts"]} == {"resolved"}
        assert not _campaign_notifications(receiver, "cmp-b", "resolved")
        assert worker.poll() is None, env.tail()
    took = time.monotonic() - started
    measured(f"scrape, rules, notification and resolution in {took:.1f}s")
    # the test's route timings are seconds; the shipped minutes (a 2 m group interval
    # before the resolution) would take longer than this on any machine
    assert took < 120


def _alert(**labels: str) -> dict[str, Any]:
    return {"labels": labels, "annotations": {"summary": "posted by the test"}}


def test_worker_down_inhibits_funnel_alerts_of_its_job_in_the_shipped_alertmanager_config(
    receiver: WebhookReceiver, alertmanager: LocalAlertmanager
) -> None:
    # What Prometheus sends when a worker stopped answering, then two funnel alerts:
    # one from the same job (muted) and one from another job (delivered).
    alertmanager.post_alerts(
        [
            _alert(
                alertname="FunnelwatchWorkerDown",
                job="funnelwatch",
                instance="w1:6066",
                severity="page",
                component="pipeline",
            )
        ]
    )
    wait_for(
        lambda: receiver.received(
            lambda n: n["commonLabels"].get("alertname") == "FunnelwatchWorkerDown"
        ),
        "the worker-down notification",
    )
    funnel = {
        "alertname": "FunnelConversionAlert",
        "severity": "page",
        "component": "funnel",
        "kind": "stall",
        "from_stage": "click",
        "to_stage": "lead",
    }
    alertmanager.post_alerts(
        [
            _alert(**funnel, job="funnelwatch", instance="w1:6066", campaign_id="cmp-muted"),
            _alert(**funnel, job="funnelwatch-eu", instance="w9:6066", campaign_id="cmp-other"),
        ]
    )
    wait_for(
        lambda: _campaign_notifications(receiver, "cmp-other", "firing"),
        "the funnel alert of the other job",
    )
    muted = wait_for(
        lambda: [
            a
            for a in alertmanager.alerts()
            if a["labels"].get("campaign_id") == "cmp-muted" and a["status"]["inhibitedBy"]
        ],
        "the same-job funnel alert to show as inhibited",
    )
    assert muted[0]["status"]["state"] == "suppressed"
    time.sleep(3)  # three group intervals: a muted alert would have been sent by now
    assert not _campaign_notifications(receiver, "cmp-muted", "firing")


def test_a_killed_worker_pages_worker_down_after_a_minute_and_mutes_funnel_alerts_of_its_job(
    kafka_bootstrap: str,
    tmp_path: Path,
    receiver: WebhookReceiver,
    alertmanager: LocalAlertmanager,
    measured: Callable[[str], None],
) -> None:
    """The shipped ``for: 1m`` is kept: this test waits a real minute for it."""
    with scraped_worker(kafka_bootstrap, tmp_path, alertmanager, "promdown", partitions=1) as run:
        prometheus, worker_target = run.prometheus, run.worker_target
        wait_for(
            lambda: prometheus.query(f'up{{instance="{worker_target}"}} == 1'),
            "Prometheus to scrape the worker",
        )
        stop(run.worker, signal.SIGKILL)
        killed = time.monotonic()
        down = wait_for(
            lambda: receiver.received(
                lambda n: n["commonLabels"].get("alertname") == "FunnelwatchWorkerDown"
            ),
            "the worker-down notification",
            timeout=100,
        )
        paged_after = time.monotonic() - killed
        measured(f"worker down paged {paged_after:.1f}s after the kill")
        assert 60 <= paged_after < 90  # the shipped for: 1m, then seconds
        [alert] = down[0]["alerts"]
        assert alert["labels"]["instance"] == worker_target
        assert alert["labels"]["severity"] == "page"
        assert alert["annotations"]["summary"] == f"funnelwatch worker {worker_target} is down"

        # A funnel alert of the same job while the worker is down: fired, but muted.
        run.active.labels("stall", "cmp-during-outage", "click", "lead").set(1)
        wait_for(
            lambda: [
                a
                for a in prometheus.alerts()
                if a["labels"].get("campaign_id") == "cmp-during-outage" and a["state"] == "firing"
            ],
            "Prometheus to fire the funnel alert",
        )
        muted = wait_for(
            lambda: [
                a
                for a in alertmanager.alerts()
                if a["labels"].get("campaign_id") == "cmp-during-outage"
            ],
            "Alertmanager to receive the funnel alert",
        )
        assert muted[0]["status"]["state"] == "suppressed"
        assert muted[0]["status"]["inhibitedBy"]
        time.sleep(3)  # three group intervals: a muted alert would have been sent by now
        assert not _campaign_notifications(receiver, "cmp-during-outage", "firing")
