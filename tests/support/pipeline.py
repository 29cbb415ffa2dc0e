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
    _ports: dict[int, int] = field(default_factory=dict, repr=False)
    _logs: dict[int, Path] = field(default_factory=dict, repr=False)

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

    def start_worker(
        self, log_name: str = "worker.log", web_port: int | None = None
    ) -> subprocess.Popen[bytes]:
        """Start a worker; a second worker of the same run needs a web port of its own."""
        log = (self.home / log_name).open("ab")
        env = self.environ()
        port = web_port or self.web_port
        env["FUNNELWATCH_WEB_PORT"] = str(port)
        worker = subprocess.Popen(
            [*FUNNELWATCH, "worker", "-l", "warn"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._ports[worker.pid] = port
        self._logs[worker.pid] = self.home / log_name
        return worker

    def replay(self, truth: Path, rate: float | None = None) -> subprocess.Popen[str]:
        """Send a ground-truth file's records to this run's source topics, in the
        background (paced at ``rate`` records per second when given)."""
        pace = ["--rate", str(rate)] if rate else []
        return subprocess.Popen(
            [*FUNNELWATCH, "simulate", "--replay", str(truth), *pace],
            env=self.environ(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def committed_sources(self) -> int:
        """Source records the workers' group has committed so far."""
        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap)
        try:
            offsets = admin.list_group_offsets([self.name]).get(self.name, {})
        except KafkaError:
            return 0
        finally:
            admin.close()
        sources = {t.name for t in catalogue(self.settings).sources}
        return sum(o.offset for tp, o in offsets.items() if tp.topic in sources and o.offset > 0)

    def wait_committed(
        self, records: float, workers: list[subprocess.Popen[bytes]], timeout: float = 300
    ) -> None:
        """Until the group has committed at least ``records`` source records."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for worker in workers:
                assert worker.poll() is None, self.tail(worker=worker)
            if self.committed_sources() >= records:
                return
            time.sleep(0.2)
        raise AssertionError(f"{records:.0f} records not committed in {timeout}s: {self.tail()}")

    def wait_members(
        self, n: int, workers: list[subprocess.Popen[bytes]], timeout: float = 120
    ) -> None:
        """Until the hot path's group has ``n`` members holding partitions."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for worker in workers:
                assert worker.poll() is None, self.tail(worker=worker)
            assigned = self.group_assignment()
            if (
                len([m for m, parts in assigned.items() if m.startswith(f"{self.name}/") and parts])
                >= n
            ):
                return
            time.sleep(0.5)
        raise AssertionError(f"{n} workers did not join in {timeout}s: {self.group_assignment()}")

    def consumed_topics(self) -> dict[str, list[TopicPartition]]:
        """Per consumer group of the workers, the partitions it consumes."""
        cat = catalogue(self.settings)
        hot = [cat.by_lead, *cat.sources]
        return {
            self.name: [TopicPartition(t.name, p) for t in hot for p in range(t.partitions)],
            f"{self.name}-rollup": [
                TopicPartition(cat.rollup.name, p) for p in range(cat.rollup.partitions)
            ],
        }

    def lag(self) -> int:
        """Records not yet committed by the workers' consumer groups, over all their inputs."""
        return sum(self.lag_by_partition().values())

    def lag_by_partition(self) -> dict[str, int]:
        """Kafka's view: per input partition, end offset minus the group's committed one."""
        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap)
        consumer = KafkaConsumer(bootstrap_servers=self.bootstrap)
        try:
            groups = self.consumed_topics()
            try:
                committed = admin.list_group_offsets(list(groups))
            except KafkaError:
                # a fresh broker creates its offsets topic on the first group lookup
                committed = {}
            lags = {}
            for group, tps in groups.items():
                ends = consumer.end_offsets(tps)
                done = committed.get(group, {})
                for tp, end in ends.items():
                    at = done[tp].offset if tp in done and done[tp].offset >= 0 else 0
                    lags[f"{tp.topic}:{tp.partition}"] = end - at
            return lags
        finally:
            admin.close()
            consumer.close()

    def group_assignment(self) -> dict[str, list[str]]:
        """Kafka's view of the workers' groups: member id -> partitions assigned to it."""
        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap)
        try:
            groups = admin.describe_groups(list(self.consumed_topics()))
            return {
                f"{name}/{member['member_id']}": sorted(
                    f"{a['topic']}:{p}"
                    for a in member["member_assignment"]["assigned_partitions"]
                    for p in a["partitions"]
                )
                for name, group in groups.items()
                for member in group["members"]
            }
        except (KafkaError, KeyError, TypeError) as exc:
            return {"error": [repr(exc)]}
        finally:
            admin.close()

    #: how long the lag must stay zero before the pipeline counts as drained
    DRAIN_CONFIRM_SECONDS = 3.0

    def wait_drained(
        self,
        workers: subprocess.Popen[bytes] | list[subprocess.Popen[bytes]],
        timeout: float = 900,
    ) -> float:
        """Block until every input of the workers is committed and no rolling conversion
        is pending on any of them, for DRAIN_CONFIRM_SECONDS; return seconds to that."""
        running = workers if isinstance(workers, list) else [workers]
        started = time.monotonic()
        zero_since: float | None = None
        while time.monotonic() - started < timeout:
            for worker in running:
                if worker.poll() is not None:
                    raise AssertionError(
                        f"worker exited with {worker.returncode}: {self.tail(worker=worker)}"
                    )
            lag = self.lag()
            pending = [self.metric("funnelwatch_rolling_pending", w) for w in running]
            if lag == 0 and all(p == 0 for p in pending):
                zero_since = zero_since or time.monotonic()
                if time.monotonic() - zero_since >= self.DRAIN_CONFIRM_SECONDS:
                    return zero_since - started
            else:
                zero_since = None
            # each look at the lag costs the broker and this 2-core machine: far from
            # drained, look less often (10,000 records take the worker a fraction of a second)
            time.sleep(0.5 if lag < 10_000 else 2)
        lagging = {tp: n for tp, n in self.lag_by_partition().items() if n}
        stacks = "\n".join(self.thread_stacks(w) for w in running)
        # the log tail first, the figures last: a report cut in its middle keeps both ends
        raise AssertionError(
            "; ".join(self.tail(worker=w) for w in running)
            + f"\nthreads of the workers:\n{stacks}\n"
            f"pipeline did not drain in {timeout}s: lag by partition {lagging}; "
            f"group assignment {self.group_assignment()}; "
            f"lag the workers report {[self.lagging_partitions(w) for w in running]}; "
            f"workers' warnings {self.partition_warnings()}"
        )

    def thread_stacks(self, worker: subprocess.Popen[bytes], wait: float = 3.0) -> str:
        """The stacks of every thread of a running worker (its SIGUSR1 writes them to its
        log: mode's worker), compacted to the frames of this project and the Kafka client."""
        path = self._logs.get(worker.pid, self.home / "worker.log")
        before = path.stat().st_size if path.exists() else 0
        try:
            os.kill(worker.pid, signal.SIGUSR1)
        except ProcessLookupError:
            return "(the worker has exited)"
        time.sleep(wait)
        with path.open("rb") as log:
            log.seek(before)
            dumped = log.read().decode(errors="replace").splitlines()
        keep = ("THREAD ", "processors/", "funnelwatch/", "confluent_kafka", "consumer.", "commit")
        return "\n".join(line for line in dumped if any(k in line for k in keep))[-6000:]

    def lagging_partitions(self, worker: subprocess.Popen[bytes] | None = None) -> list[str]:
        """The worker's own per-partition lag series that are not zero (for failure reports)."""
        return [
            line
            for line in (self.metrics_text(worker) or "").splitlines()
            if line.startswith("funnelwatch_consumer_lag{") and not line.endswith(" 0.0")
        ]

    def metrics_text(self, worker: subprocess.Popen[bytes] | None = None) -> str | None:
        """The worker's /metrics page, or None while it does not answer."""
        port = self._ports.get(worker.pid, self.web_port) if worker else self.web_port
        try:
            url = f"http://127.0.0.1:{port}/metrics"
            with urllib.request.urlopen(url, timeout=5) as response:
                text: str = response.read().decode()
        except OSError:
            return None
        return text

    def metric(self, name: str, worker: subprocess.Popen[bytes] | None = None) -> float | None:
        """A sample of the worker's /metrics, or None while it does not answer."""
        for line in (self.metrics_text(worker) or "").splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                return float(line.rsplit(" ", 1)[1])
        return None

    #: worker log lines that tell of retried or repaired work (for failure reports)
    PARTITION_WARNINGS = ("abandoned", "half written", "unreachable", "stopped", "failed")

    def partition_warnings(self) -> list[str]:
        found = []
        for path in sorted(set(self._logs.values()) | {self.home / "worker.log"}):
            text = path.read_text(errors="replace") if path.exists() else ""
            found += [
                f"{path.name}: {line}"
                for line in text.splitlines()
                if any(w in line for w in self.PARTITION_WARNINGS)
            ][-30:]
        return found

    def tail(self, lines: int = 40, worker: subprocess.Popen[bytes] | None = None) -> str:
        path = self._logs.get(worker.pid, self.home / "worker.log") if worker else None
        path = path or self.home / "worker.log"
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
