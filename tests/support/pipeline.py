"""Run the real worker and simulator as subprocesses, and tell when the pipeline drained."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from funnelwatch.localstack.ports import free_port
from funnelwatch.settings import Settings
from funnelwatch.streams.catalogue import catalogue

FUNNELWATCH = [sys.executable, "-m", "funnelwatch.cli"]


@dataclass
class PipelineEnv:
    """Settings of one isolated pipeline run: own topics, consumer group and state."""

    bootstrap: str
    clickhouse_url: str
    home: Path
    name: str
    partitions: int = 4
    web_port: int = field(default_factory=free_port)
    #: further FUNNELWATCH_* variables of the worker and CLI runs (e.g. alert settings)
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def settings(self) -> Settings:
        return Settings(
            kafka_bootstrap=self.bootstrap,
            clickhouse_url=self.clickhouse_url,
            data_dir=self.home,
            topic_prefix=self.name,
            app_id=self.name,
            partitions=self.partitions,
            web_port=self.web_port,
        )

    def environ(self) -> dict[str, str]:
        """This process's environment, with the settings above as FUNNELWATCH_* variables."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("FUNNELWATCH_")}
        s = self.settings
        env.update(
            {f"FUNNELWATCH_{name.upper()}": str(getattr(s, name)) for name in s.model_fields_set}
        )
        env.update(self.extra_env)
        return env

    def run(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*FUNNELWATCH, *args],
            env=self.environ(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=True,
        )

    def start_worker(self, log_name: str = "worker.log") -> subprocess.Popen[bytes]:
        log = (self.home / log_name).open("ab")
        return subprocess.Popen(
            [*FUNNELWATCH, "worker", "-l", "warn"],
            env=self.environ(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def consumed_topics(self) -> list[str]:
        cat = catalogue(self.settings)
        return [t.name for t in (*cat.sources, cat.by_click, cat.by_lead, cat.facts)]

    def lag(self) -> int:
        """Records not yet committed by the worker's consumer group, over all its inputs."""
        return sum(self.lag_by_partition().values())

    def lag_by_partition(self) -> dict[str, int]:
        """Kafka's view: per input partition, end offset minus the group's committed one."""
        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap)
        consumer = KafkaConsumer(bootstrap_servers=self.bootstrap)
        try:
            sink = f"{self.name}-sink"
            try:
                offsets = admin.list_group_offsets([self.name, sink])
            except KafkaError:
                # a fresh broker creates its offsets topic on the first group lookup
                offsets = {}
            committed = {**offsets.get(self.name, {}), **offsets.get(sink, {})}
            tps = [
                TopicPartition(t, p) for t in self.consumed_topics() for p in range(self.partitions)
            ]
            ends = consumer.end_offsets(tps)
            return {
                f"{tp.topic}:{tp.partition}": end
                - (committed[tp].offset if tp in committed and committed[tp].offset >= 0 else 0)
                for tp, end in ends.items()
            }
        finally:
            admin.close()
            consumer.close()

    def group_assignment(self) -> dict[str, list[str]]:
        """Kafka's view of the worker's group: member id -> partitions assigned to it."""
        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap)
        try:
            group = admin.describe_groups([self.name])[self.name]
            return {
                member["member_id"]: sorted(
                    f"{a['topic']}:{p}"
                    for a in member["member_assignment"]["assigned_partitions"]
                    if not a["topic"].endswith("-changelog")
                    for p in a["partitions"]
                )
                for member in group["members"]
            }
        except (KafkaError, KeyError, TypeError) as exc:
            return {"error": [repr(exc)]}
        finally:
            admin.close()

    #: how long the lag must stay zero before the pipeline counts as drained
    DRAIN_CONFIRM_SECONDS = 3.0

    def wait_drained(self, worker: subprocess.Popen[bytes], timeout: float = 900) -> float:
        """Block until every input of the worker is committed, twice in a row; return seconds."""
        started = time.monotonic()
        zero_since: float | None = None
        while time.monotonic() - started < timeout:
            if worker.poll() is not None:
                raise AssertionError(f"worker exited with {worker.returncode}: {self.tail()}")
            lag = self.lag()
            if lag == 0 and self.metric("funnelwatch_rolling_pending") == 0:
                zero_since = zero_since or time.monotonic()
                if time.monotonic() - zero_since >= self.DRAIN_CONFIRM_SECONDS:
                    return zero_since - started
            else:
                zero_since = None
            # each look at the lag costs the broker and this 2-core machine: far from
            # drained, look less often (10,000 records take the worker several seconds)
            time.sleep(1 if lag < 10_000 else 5)
        lagging = {tp: n for tp, n in self.lag_by_partition().items() if n}
        raise AssertionError(
            f"pipeline did not drain in {timeout}s: lag by partition {lagging}; "
            f"group assignment {self.group_assignment()}; "
            f"lag the worker reports {self.lagging_partitions()}; "
            f"worker's partition warnings {self.partition_warnings()}; {self.tail()}"
        )

    def lagging_partitions(self) -> list[str]:
        """The worker's own per-partition lag series that are not zero (for failure reports)."""
        return [
            line
            for line in (self.metrics_text() or "").splitlines()
            if line.startswith("funnelwatch_consumer_lag{") and not line.endswith(" 0.0")
        ]

    def metrics_text(self) -> str | None:
        """The worker's /metrics page, or None while it does not answer."""
        try:
            url = f"http://127.0.0.1:{self.web_port}/metrics"
            with urllib.request.urlopen(url, timeout=5) as response:
                text: str = response.read().decode()
        except OSError:
            return None
        return text

    def metric(self, name: str) -> float | None:
        """A sample of the worker's /metrics, or None while it does not answer."""
        for line in (self.metrics_text() or "").splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                return float(line.rsplit(" ", 1)[1])
        return None

    #: worker log lines that tell how partitions were repositioned (for failure reports)
    PARTITION_WARNINGS = ("stuck at offset", "left alone", "never processed", "rebalancing again")

    def partition_warnings(self) -> list[str]:
        path = self.home / "worker.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return [
            line for line in text.splitlines() if any(w in line for w in self.PARTITION_WARNINGS)
        ][-30:]

    def tail(self, lines: int = 40) -> str:
        path = self.home / "worker.log"
        return (
            "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
            if path.exists()
            else ""
        )


def alerting_env(
    bootstrap: str,
    home: Path,
    prefix: str,
    webhook_url: str,
    *,
    slack_webhook_url: str | None = None,
    partitions: int = PipelineEnv.partitions,
) -> PipelineEnv:
    """A run on embedded chDB under ``home`` whose detectors alert ``webhook_url``.

    They judge every second, and a judged minute enters the baseline 15 minutes later
    instead of 60: a test's simulated history is short.
    """
    webhooks = {"FUNNELWATCH_ALERT_WEBHOOK_URL": webhook_url}
    if slack_webhook_url is not None:
        webhooks["FUNNELWATCH_ALERT_SLACK_WEBHOOK_URL"] = slack_webhook_url
    return PipelineEnv(
        bootstrap,
        f"chdb://{home / 'chdb'}",
        home,
        f"{prefix}-{uuid.uuid4().hex[:8]}",
        partitions=partitions,
        extra_env={
            **webhooks,
            "FUNNELWATCH_ALERT_INTERVAL_SECONDS": "1",
            "FUNNELWATCH_ALERT_BASELINE_DELAY_MINUTES": "15",
        },
    )


def stop(worker: subprocess.Popen[bytes], sig: signal.Signals = signal.SIGTERM) -> None:
    if worker.poll() is None:
        os.killpg(worker.pid, sig)
        try:
            worker.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(timeout=30)
