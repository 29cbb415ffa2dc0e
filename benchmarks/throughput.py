"""Throughput benchmark: a fixed backlog drained through the real worker, and a reference.

``make bench-throughput`` (``python -m benchmarks.throughput``) measures on this machine:

1. the backlog: ``--records`` simulated source records (default 1,000,000; 1% duplicates,
   2% out-of-order leads, 0.5% malformed) over enough campaigns for at least 10,000
   campaign x segment keys, generated once as a ground-truth file and cached under
   ``~/.cache/funnelwatch/bench/``; before it, ``--preload-leads`` synthetic leads
   (default 1,000,000 forms, 10 to 20 days older) as join state;
2. for each variant — the worker on embedded chDB, the worker on the ClickHouse server,
   ``--workers N`` workers in one group on the server — on topics of its own: phase A
   produces the preload and runs the worker until drained (untimed), phase B produces
   the backlog and starts the worker again on the same data dir, timed from its first
   partition assignment to drained (group lag 0 for ``<app_id>`` and ``<app_id>-rollup``
   by Kafka's committed offsets, and ``funnelwatch_rolling_pending`` 0 on /metrics);
   events/s = backlog records / that time, CPU from /proc/<pid>/stat over it, peak RSS
   = VmHWM of the phase B process;
3. the reference: the same two phases through :mod:`benchmarks.reference`, a plain
   aiokafka ``getmany`` loop doing the same job on chDB; the ratio is the chDB worker's
   events/s over the reference's;
4. latency: a fresh chDB worker under a steady 5,000 records/s (a replay of part of the
   backlog) and one probe click a second (event time now, a campaign of its own); the
   time from a probe's event time until the worker's ``GET /api/campaigns`` lists it.

Kafka and the ClickHouse server are started in a temporary directory unless
``--kafka HOST:PORT`` / ``--clickhouse-url URL`` name running ones (on a given server,
each run creates databases of its own and drops them at the end unless ``--keep``).
The last line printed is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from pydantic import SecretStr

from funnelwatch.localstack.ports import free_port
from funnelwatch.settings import Settings, load_settings
from funnelwatch.streams.catalogue import catalogue
from funnelwatch.streams.simulator.ground_truth import record_to_json
from funnelwatch.streams.simulator.records import SentRecord

FUNNELWATCH = [sys.executable, "-m", "funnelwatch.cli"]
CACHE_DIR = Path.home() / ".cache" / "funnelwatch" / "bench"
DEFAULT_RECORDS = 1_000_000
DEFAULT_PRELOAD = 1_000_000
MIN_KEYS = 10_000
#: about 14.6 keys a campaign at 1M records (fewer records see fewer ad groups and geos)
START_CAMPAIGNS = 700
SIMULATION = ("--seed", "7", "--clicks-per-minute", "1000", "--duplicates", "0.01",
              "--out-of-order", "0.02", "--malformed", "0.005")  # fmt: skip
#: Preload leads are from FROM to TO days older than the backlog's first event (--preload-
#: days). The default is the last 2.4 hours before the backlog: join state is what the
#: preload is for, and every preload minute adds a rolling row per campaign, window and
#: transition for each later minute its windows reach (700 campaigns x 2 days of
#: minutes made phase A roll tens of millions of rows).
PRELOAD_DAYS = (0.1, 0.0)
#: Preload leads fall in one minute out of ten (15 minutes of KPIs in all).
PRELOAD_MINUTE_EVERY_MS = 600_000
#: A cached backlog whose first event is older than this is generated again, and never
#: older than 28 days minus the preload's reach: the worker refuses events older than 30
#: days (max_event_age_days), and a run takes hours.
MAX_BACKLOG_AGE_DAYS = 20.0
DIMS = ("all", "channel", "ad_group", "device", "geo")
LATENCY_RATE = 5_000
#: the read token the benchmark's workers take (they listen on loopback only)
BENCH_READ_TOKEN = secrets.token_urlsafe(24)
LATENCY_WARMUP = 15.0
PROBE_POLL = 0.05
#: drained means zero lag and nothing pending for this long (the time taken is the first)
CONFIRM_SECONDS = 3.0

TARGET_EVENTS_PER_S = 50_000
FLOOR_EVENTS_PER_S = 20_000
TARGET_RATIO = 0.7
TARGET_RSS_SERVER_MB = 400
TARGET_RSS_CHDB_MB = 800
TARGET_P99_S = 2.0


T = TypeVar("T")


class BenchError(RuntimeError):
    pass


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


# ---- processes ---------------------------------------------------------------------


class Processes:
    """Every child this run started, each in a session of its own; stopped by pid."""

    def __init__(self) -> None:
        self.running: list[subprocess.Popen[bytes]] = []

    def start(self, argv: Sequence[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
        with log.open("ab") as out:
            proc = subprocess.Popen(
                list(argv), env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.running.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> int:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(30)
        if proc in self.running:
            self.running.remove(proc)
        return proc.returncode

    def stop_all(self) -> None:
        for proc in list(self.running):
            self.stop(proc, timeout=20)


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def log_tail(path: Path, lines: int = 40) -> str:
    if not path.exists():
        return "(no log)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


# ---- the backlog -----------------------------------------------------------------------


@dataclass
class Backlog:
    path: Path
    records: int
    keys: int
    campaigns: int
    first_ms: int
    last_ms: int
    #: campaign -> (channel, ad groups); the devices and geos seen: what the preload uses
    segments: dict[str, tuple[str, list[str]]]
    devices: list[str]
    geos: list[str]
    generated: str


def _scan(path: Path) -> dict[str, Any]:
    """Keys, time range and segments of a ground-truth file."""
    keys: set[tuple[str, str, str]] = set()
    channels: dict[str, str] = {}
    groups: dict[str, set[str]] = {}
    devices: set[str] = set()
    geos: set[str] = set()
    first = last = 0
    records = 0
    with path.open() as lines:
        for line in lines:
            records += 1
            rec = json.loads(line)
            if not rec["valid"] or rec["topic"] != "clicks":
                continue
            e = json.loads(rec["value"])
            c = e["campaign_id"]
            seg = ("all", e["channel"], e["ad_group_id"], e.get("device") or "(unknown)",
                   e.get("geo") or "(unknown)")  # fmt: skip
            keys.update((c, d, v) for d, v in zip(DIMS, seg, strict=True))
            channels[c] = e["channel"]
            groups.setdefault(c, set()).add(e["ad_group_id"])
            devices.add(seg[3])
            geos.add(seg[4])
            t = int(datetime.fromisoformat(e["event_time"]).timestamp() * 1000)
            first = min(first or t, t)
            last = max(last, t)
    return {
        "records": records,
        "keys": len(keys),
        "campaigns": len(channels),
        "first_ms": first,
        "last_ms": last,
        "segments": {c: [channels[c], sorted(groups[c])] for c in sorted(channels)},
        "devices": sorted(devices),
        "geos": sorted(geos),
    }


def backlog(records: int, preload_days: float) -> Backlog:
    """The cached backlog of ``records`` records with >= MIN_KEYS keys, generated if
    missing or too old (see MAX_BACKLOG_AGE_DAYS)."""
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    max_age = min(MAX_BACKLOG_AGE_DAYS, 28.0 - preload_days)
    campaigns = START_CAMPAIGNS
    for _ in range(5):
        name = f"backlog-n{records}-c{campaigns}-" + "-".join(SIMULATION[1::2])
        path, meta_path = CACHE_DIR / f"{name}.jsonl", CACHE_DIR / f"{name}.json"
        meta: dict[str, Any] | None = None
        if path.exists() and meta_path.exists():
            meta = json.loads(meta_path.read_text())
            age = (time.time() * 1000 - meta["first_ms"]) / 86_400_000
            if age > max_age:
                say(f"cached backlog {path.name} starts {age:.1f} days ago: generating it again")
                meta = None
            else:
                say(f"backlog: cached {path} (generated {meta['generated']})")
        if meta is None:
            end = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=1)
            say(f"backlog: generating {records:,} records over {campaigns} campaigns, "
                f"ending {end.isoformat()} (about {records / 30_000:.0f}s)")  # fmt: skip
            partial = path.with_suffix(".partial")
            subprocess.run(
                [*FUNNELWATCH, "simulate", "--mode", "batch", "--dry-run", "--ground-truth",
                 str(partial), "--events", str(records), "--campaigns", str(campaigns),
                 "--end", end.isoformat(), "--progress-every", str(10**9), *SIMULATION],
                check=True, stdout=subprocess.DEVNULL, env=_plain_env(),
            )  # fmt: skip
            partial.replace(path)
            meta = {**_scan(path), "generated": datetime.now(UTC).isoformat(timespec="seconds")}
            meta_path.write_text(json.dumps(meta))
        if meta["keys"] >= MIN_KEYS:
            return Backlog(
                path, meta["records"], meta["keys"], meta["campaigns"], meta["first_ms"],
                meta["last_ms"], {c: (s[0], s[1]) for c, s in meta["segments"].items()},
                meta["devices"], meta["geos"], meta["generated"],
            )  # fmt: skip
        per = meta["keys"] / max(1, meta["campaigns"])
        say(f"backlog: {meta['keys']:,} keys over {meta['campaigns']} campaigns, fewer than "
            f"{MIN_KEYS:,}: more campaigns")  # fmt: skip
        campaigns = math.ceil(MIN_KEYS * 1.03 / per)
    raise BenchError(f"no backlog of {records} records reached {MIN_KEYS} keys")


def preload_file(backlog: Backlog, leads: int, days: tuple[float, float]) -> Path:
    """``leads`` valid form submissions, one per lead, as a ground-truth file (cached):
    unique lead and event ids, utm_campaign (and source, content) of a backlog campaign,
    no click_id, event times spread from ``days[0]`` to ``days[1]`` days before the
    backlog (the first minute of each hour, see PRELOAD_MINUTE_EVERY_MS), in time order."""
    window = f"{days[0]:g}-{days[1]:g}d"
    path = CACHE_DIR / f"preload-{leads}-{window}-{backlog.path.stem}-{backlog.first_ms}.jsonl"
    if path.exists():
        return path
    say(f"preload: writing {leads:,} leads to {path}")
    rng = random.Random(f"preload:{leads}")
    campaigns = sorted(backlog.segments)
    lo = backlog.first_ms - int(days[0] * 86_400_000)
    lo -= lo % PRELOAD_MINUTE_EVERY_MS
    slots = max(1, int((days[0] - days[1]) * 86_400_000) // PRELOAD_MINUTE_EVERY_MS)
    partial = path.with_suffix(".partial")
    with partial.open("w") as out:
        for i in range(leads):
            campaign = campaigns[i % len(campaigns)]
            channel, groups = backlog.segments[campaign]
            t = lo + slots * i // leads * PRELOAD_MINUTE_EVERY_MS + rng.randrange(60_000)
            moment = datetime.fromtimestamp(t / 1000, UTC)
            event = {
                "event_type": "form_submission",
                "event_id": f"evt-preload-{i}",
                "event_time": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "schema_version": 1,
                "lead_id": f"lead-preload-{i}",
                "form_id": f"frm-preload-{i % 7}",
                "form_type": "contact",
                "utm_source": channel,
                "utm_medium": "cpc",
                "utm_campaign": campaign,
                "utm_content": groups[rng.randrange(len(groups))],
                "device": backlog.devices[rng.randrange(len(backlog.devices))],
                "geo": backlog.geos[rng.randrange(len(backlog.geos))],
            }
            value = json.dumps(event, separators=(",", ":")).encode()
            record = SentRecord("forms", f"lead-preload-{i}".encode(), value, f"evt-preload-{i}",
                                True, None, False)  # fmt: skip
            out.write(record_to_json(record) + "\n")
    partial.replace(path)
    return path


# ---- one pipeline's settings, Kafka's view of its lag ------------------------------------


def _plain_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("FUNNELWATCH_")}


@dataclass
class Run:
    """Topics, group and state of one variant (one or more workers)."""

    bootstrap: str
    prefix: str
    home: Path
    urls: list[str]
    ports: list[int] = field(default_factory=list)
    _admin_client: Any = None

    def __post_init__(self) -> None:
        self.ports = self.ports or [free_port() for _ in self.urls]

    def settings(self, i: int = 0) -> Settings:
        return load_settings(
            kafka_bootstrap=self.bootstrap,
            clickhouse_url=self.urls[i],
            data_dir=self.home / f"w{i}",
            topic_prefix=self.prefix,
            app_id=self.prefix,
            web_port=self.ports[i],
            read_token=BENCH_READ_TOKEN,
        )

    def env(self, i: int = 0) -> dict[str, str]:
        s = self.settings(i)
        env = _plain_env()
        for k in s.model_fields_set:
            value = getattr(s, k)
            plain = value.get_secret_value() if isinstance(value, SecretStr) else value
            env[f"FUNNELWATCH_{k.upper()}"] = str(plain)
        return env

    def cli(self, *args: str, timeout: float = 3600) -> str:
        done = subprocess.run(
            [*FUNNELWATCH, *args], env=self.env(), capture_output=True, text=True, timeout=timeout
        )
        if done.returncode != 0:
            raise BenchError(f"funnelwatch {' '.join(args)} failed: {done.stderr[-2000:]}")
        return done.stdout

    def replay(self, path: Path, what: str) -> None:
        started = time.monotonic()
        out = self.cli("simulate", "--replay", str(path), "--progress-every", str(10**9))
        sent = [line for line in out.splitlines() if line.startswith("sent ")]
        say(f"{self.prefix}: {what} produced in {time.monotonic() - started:.0f}s"
            f" ({sent[-1].split(':')[0] if sent else 'sent'})")  # fmt: skip

    @property
    def catalogue(self) -> Any:
        return catalogue(self.settings())

    def source_partitions(self) -> list[tuple[str, int]]:
        cat = self.catalogue
        return [(t.name, p) for t in cat.sources for p in range(t.partitions)]

    def _admin(self) -> Any:
        if self._admin_client is None:
            from confluent_kafka.admin import AdminClient

            self._admin_client = AdminClient({"bootstrap.servers": self.bootstrap})
        return self._admin_client

    def end_offsets(self, tps: Sequence[tuple[str, int]]) -> dict[tuple[str, int], int]:
        from confluent_kafka import TopicPartition
        from confluent_kafka import admin as kafka_admin

        offset_spec: Any = kafka_admin.__dict__["OffsetSpec"]  # not re-exported in the stubs
        latest: Callable[[], Any] = offset_spec.latest
        futures = self._admin().list_offsets({TopicPartition(t, p): latest() for t, p in tps})
        return {(tp.topic, tp.partition): f.result().offset for tp, f in futures.items()}

    def lag(self) -> tuple[int, int]:
        """Records not committed yet by the hot path's group <app_id> (sources and
        by-lead) and by <app_id>-rollup, from Kafka's committed offsets and end offsets."""
        from confluent_kafka import ConsumerGroupTopicPartitions

        cat = self.catalogue
        hot = [(t.name, p) for t in (*cat.sources, cat.by_lead) for p in range(t.partitions)]
        roll = [(cat.rollup.name, 0)]
        ends = self.end_offsets(hot + roll)
        committed: dict[tuple[str, int], int] = {}
        for group in (self.prefix, f"{self.prefix}-rollup"):
            groups = [ConsumerGroupTopicPartitions(group)]
            for f in self._admin().list_consumer_group_offsets(groups).values():
                for tp in f.result().topic_partitions or []:
                    committed[(tp.topic, tp.partition)] = max(0, tp.offset)

        def behind(tps: list[tuple[str, int]]) -> int:
            return sum(max(0, ends[tp] - committed.get(tp, 0)) for tp in tps)

        return behind(hot), behind(roll)

    def rolled(self) -> bool | None:
        """Whether the progress row says nothing is left to roll (None: not readable from
        here, embedded chDB). /metrics alone can say 0 too early: a roller that took over
        the rollup reports nothing pending until its first roll ends."""
        url = self.urls[0]
        if not url.startswith("clickhouse://"):
            return None
        from funnelwatch.clickhouse import connect

        client = connect(url)
        try:
            rows = client.execute(
                "SELECT argMax(dirty_from, version) FROM sink_progress WHERE name = 'rolling'"
            )
        finally:
            client.close()
        return bool(rows) and rows[0][0] is not None and int(rows[0][0]) == 0

    def metrics(self, i: int) -> str | None:
        try:
            url = f"http://127.0.0.1:{self.ports[i]}/metrics"
            with urllib.request.urlopen(url, timeout=5) as response:
                text: str = response.read().decode()
                return text
        except OSError:
            return None


def metric_sum(text: str | None, name: str) -> float | None:
    if text is None:
        return None
    values = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
              if line.startswith((name + " ", name + "{"))]  # fmt: skip
    return sum(values) if values else None


# ---- the worker variants --------------------------------------------------------------

_LOG_TIME = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\]")


def _assigned_at(log: Path, since: int) -> float | None:
    """Wall-clock time of the first ``assigned N partitions`` line after byte ``since``."""
    with log.open("rb") as f:
        f.seek(since)
        for raw in f:
            line = raw.decode(errors="replace")
            if "] assigned " in line and " partitions" in line:
                m = _LOG_TIME.match(line)
                if m:
                    return datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
                return time.time()
    return None


def _lead_counts(log: Path, since: int) -> list[int]:
    with log.open("rb") as f:
        f.seek(since)
        text = f.read().decode(errors="replace")
    return [int(n) for n in re.findall(r"lead store \S+ \((\d+) leads\)", text)]


#: worker log lines about the rollup changing hands (a roll longer than the consumer's
#: max poll interval makes the roller leave its group mid-roll)
_ROLLER_EVENTS = ("MAXPOLL", "the rollup moved", "now runs the rollup", "rollup of ")


def _roller_events(workers: Sequence[tuple[subprocess.Popen[bytes], Path, int]]) -> list[str]:
    out = []
    for _, log, off in workers:
        with log.open("rb") as f:
            f.seek(off)
            for raw in f:
                line = raw.decode(errors="replace").rstrip()
                if any(e in line for e in _ROLLER_EVENTS):
                    out.append(f"{log.name}: {line[:220]}")
    return out


@dataclass
class WorkerResult:
    name: str
    records: int
    seconds: float
    cpu_s: float
    peak_rss_mb: float
    workers: int
    leads_in_store: int
    processed: float
    #: seconds from the first assignment until the hot path's lag was 0
    hot_seconds: float = 0.0
    #: times the roller left its group on the max poll interval during phase B
    roller_kicked: int = 0

    @property
    def events_per_s(self) -> float:
        return self.records / self.seconds

    @property
    def cpu_s_per_million(self) -> float:
        return self.cpu_s / self.records * 1e6


class Bench:
    def __init__(self, args: argparse.Namespace, home: Path, procs: Processes) -> None:
        self.args = args
        self.home = home
        self.procs = procs
        self.run_id = uuid.uuid4().hex[:6]
        self.bootstrap = ""
        self.server_url = ""
        self.databases: list[str] = []

    def _start_workers(
        self, run: Run, log_name: str
    ) -> list[tuple[subprocess.Popen[bytes], Path, int]]:
        started = []
        for i in range(len(run.urls)):
            log = run.home / f"w{i}-{log_name}.log"
            log.parent.mkdir(parents=True, exist_ok=True)
            offset = log.stat().st_size if log.exists() else 0
            proc = self.procs.start([*FUNNELWATCH, "worker", "-l", "info"], run.env(i), log)
            started.append((proc, log, offset))
        return started

    def _drain(
        self,
        run: Run,
        workers: list[tuple[subprocess.Popen[bytes], Path, int]],
        records: int,
        what: str,
        on_assigned: Callable[[float], None] = lambda _: None,
    ) -> tuple[float, float, float]:
        """Wait until drained; returns the wall-clock times it first was and the hot
        path's lag first was 0 (before the last KPIs and rolls), and the workers' CPU
        seconds when it first was."""
        timeout = max(1800.0, records / 500)
        began = time.monotonic()
        assigned: float | None = None
        zero_since: float | None = None
        hot_zero: float | None = None
        cpu_then = 0.0
        last_report = began
        while True:
            for proc, log, _ in workers:
                if proc.poll() is not None:
                    raise BenchError(
                        f"{run.prefix}: a worker exited with {proc.returncode} during {what}; "
                        f"log tail of {log}:\n{log_tail(log)}"
                    )
            if assigned is None:
                found = [t for _, log, off in workers if (t := _assigned_at(log, off))]
                if found:
                    assigned = min(found)
                    on_assigned(assigned)
                else:
                    time.sleep(0.05)
                    if time.monotonic() - began > 300:
                        raise BenchError(f"{run.prefix}: no partition assignment in 300s; "
                                         f"log tail:\n{log_tail(workers[0][1])}")  # fmt: skip
                    continue
            now = time.time()
            cpu_now = sum(cpu_seconds(p.pid) for p, _, _ in workers)
            hot, roll = run.lag()
            hot_zero = (hot_zero or now) if hot == 0 else None
            pending = [metric_sum(run.metrics(i), "funnelwatch_rolling_pending")
                       for i in range(len(workers))]  # fmt: skip
            rolled: bool | None = None
            if hot == roll == 0 and all(p == 0 for p in pending):
                rolled = run.rolled()
            if hot == roll == 0 and all(p == 0 for p in pending) and rolled is not False:
                if zero_since is None:
                    zero_since, cpu_then = now, cpu_now
                if now - zero_since >= CONFIRM_SECONDS:
                    return zero_since, min(hot_zero or zero_since, zero_since), cpu_then
            else:
                zero_since = None
            if time.monotonic() - last_report >= 15:
                last_report = time.monotonic()
                say(f"{run.prefix}: {what}: lag {hot:,} (rollup {roll:,}), rolling pending "
                    f"{pending}{' (progress row: not rolled)' if rolled is False else ''}, "
                    f"{now - assigned:.0f}s since assignment")  # fmt: skip
            if time.monotonic() - began > timeout:
                raise BenchError(
                    f"{run.prefix}: {what} did not drain in {timeout:.0f}s (lag {hot}, rollup "
                    f"lag {roll}, pending {pending}, rolled {rolled}); roller events:\n"
                    + "\n".join(_roller_events(workers))
                    + f"\nlog tail of {workers[0][1]}:\n{log_tail(workers[0][1], 25)}"
                )
            time.sleep(0.2 if hot + roll < 50_000 else 1.0)

    def _stop(self, run: Run, workers: list[tuple[subprocess.Popen[bytes], Path, int]]) -> None:
        for proc, log, _ in workers:
            code = self.procs.stop(proc)
            if code not in (0, -signal.SIGTERM):
                say(f"{run.prefix}: worker exited with {code} on SIGTERM; log tail:\n"
                    f"{log_tail(log, 15)}")  # fmt: skip

    def worker_variant(
        self, name: str, backend: str, n: int, data: Backlog, preload: Path | None
    ) -> WorkerResult:
        prefix = f"bench-{self.run_id}-{name}"
        home = self.home / name
        if backend == "chdb":
            urls = [f"chdb://{home / 'w0' / 'chdb'}"]
        else:
            urls = [self._database(prefix)] * n
        run = Run(self.bootstrap, prefix, home, urls)
        run.cli("topics", "create")
        say(f"{name}: {n} worker(s) on {backend}, topics {prefix}.*")
        if preload is not None:
            run.replay(preload, f"preload of {self.args.preload_leads:,} leads")
            started = time.monotonic()
            workers = self._start_workers(run, "preload")
            self._drain(run, workers, self.args.preload_leads, "phase A (preload, untimed)")
            say(f"{name}: preload drained in {time.monotonic() - started:.0f}s (untimed)")
            self._stop(run, workers)
        run.replay(data.path, f"backlog of {data.records:,} records")
        workers = self._start_workers(run, "backlog")
        cpu_at: list[float] = []

        def assigned(_: float) -> None:
            cpu_at.extend(cpu_seconds(p.pid) for p, _, _ in workers)

        started = time.monotonic()
        try:
            drained, hot_drained, cpu_drained = self._drain(
                run, workers, data.records, "phase B (backlog)", assigned
            )
            t0 = min(t for _, log, off in workers if (t := _assigned_at(log, off)))
            # CPU at the moment drained was first seen (not in the confirmation wait)
            cpu = cpu_drained - sum(cpu_at)
            rss = max(peak_rss_mb(p.pid) for p, _, _ in workers)
            kicked = sum("MAXPOLL" in line for line in _roller_events(workers))
            texts = [run.metrics(i) for i in range(n)]
            processed = sum((metric_sum(t, "funnelwatch_events_total") or 0)
                            + (metric_sum(t, "funnelwatch_dead_letters_total") or 0)
                            for t in texts)  # fmt: skip
            leads = sum(max(_lead_counts(log, off), default=0) for _, log, off in workers)
        finally:
            self._stop(run, workers)
        seconds = drained - t0
        result = WorkerResult(name, data.records, seconds, cpu, rss, n, leads, processed,
                              hot_drained - t0, kicked)  # fmt: skip
        say(f"{name}: {data.records:,} records in {seconds:.1f}s from first assignment "
            f"({result.events_per_s:,.0f}/s; hot path lag 0 after {hot_drained - t0:.1f}s; "
            f"{time.monotonic() - started:.0f}s with start-up), CPU {cpu:.1f}s, peak RSS "
            f"{rss:.0f} MB, {leads:,} leads in the store at start, {processed:,.0f} records "
            f"counted on /metrics, roller left its group {kicked} times")  # fmt: skip
        if processed != data.records:
            say(f"{name}: WARNING: /metrics counted {processed:,.0f} records, not {data.records:,}")
        return result

    def _database(self, prefix: str) -> str:
        from funnelwatch.clickhouse import connect

        db = prefix.replace("-", "_")
        admin = connect(self.server_url)
        try:
            admin.execute(f"CREATE DATABASE IF NOT EXISTS {db}")
        finally:
            admin.close()
        self.databases.append(db)
        return self.server_url.rsplit("/", 1)[0] + "/" + db

    def drop_databases(self) -> None:
        if not self.databases or self.args.keep:
            return
        from funnelwatch.clickhouse import connect

        admin = connect(self.server_url)
        try:
            for db in self.databases:
                admin.execute(f"DROP DATABASE IF EXISTS {db}")
        finally:
            admin.close()

    # ---- the reference ---------------------------------------------------------------

    def reference(self, data: Backlog, preload: Path | None) -> dict[str, Any]:
        prefix = f"bench-{self.run_id}-reference"
        home = self.home / "reference"
        home.mkdir(parents=True, exist_ok=True)
        run = Run(self.bootstrap, prefix, home, [f"chdb://{home / 'chdb'}"])
        run.cli("topics", "create")
        say(f"reference: aiokafka getmany loop on chDB, topics {prefix}.*")
        tps = run.source_partitions()
        if preload is not None:
            run.replay(preload, f"preload of {self.args.preload_leads:,} leads")
        preload_ends = run.end_offsets(tps)
        run.replay(data.path, f"backlog of {data.records:,} records")
        ends = run.end_offsets(tps)
        files = []
        for label, offsets in (("preload", preload_ends), ("backlog", ends)):
            path = home / f"{label}-ends.json"
            path.write_text(json.dumps({f"{t}:{p}": o for (t, p), o in offsets.items()}))
            files.append(path)
        log = home / "reference.log"
        proc = self.procs.start(
            [sys.executable, "-m", "benchmarks.reference", "--bootstrap", self.bootstrap,
             "--prefix", prefix, "--chdb", str(home / "chdb"), "--preload-ends",
             str(files[0]), "--ends", str(files[1])],
            run.env(), log,
        )  # fmt: skip
        last = 0.0
        while proc.poll() is None:
            time.sleep(1)
            if time.monotonic() - last >= 15:
                last = time.monotonic()
                lines = log.read_text(errors="replace").splitlines() if log.exists() else []
                if lines:
                    say(lines[-1][:200])
        self.procs.stop(proc)
        lines = log.read_text(errors="replace").splitlines()
        if proc.returncode != 0 or not lines or not lines[-1].startswith("{"):
            raise BenchError(f"the reference loop failed ({proc.returncode}):\n{log_tail(log)}")
        result: dict[str, Any] = json.loads(lines[-1])
        if result["records"] != data.records:
            raise BenchError(f"the reference read {result['records']} of {data.records} records")
        say(
            f"reference: {data.records:,} records in {result['seconds']:.1f}s "
            f"({data.records / result['seconds']:,.0f}/s), CPU {result['cpu_seconds']:.1f}s, "
            f"peak RSS {result['peak_rss_mb']:.0f} MB, {result['leads']:,} leads in memory"
        )  # fmt: skip
        return result

    # ---- latency ---------------------------------------------------------------------

    def latency(self, data: Backlog, seconds: float) -> dict[str, Any]:
        from confluent_kafka import Producer

        prefix = f"bench-{self.run_id}-latency"
        home = self.home / "latency"
        run = Run(self.bootstrap, prefix, home, [f"chdb://{home / 'w0' / 'chdb'}"])
        run.cli("topics", "create")
        home.mkdir(parents=True, exist_ok=True)
        load = home / "load.jsonl"
        want = int(LATENCY_RATE * (seconds + 30))
        workers = self._start_workers(run, "latency")
        proc, log, _ = workers[0]
        # Steady traffic has event times near the wall clock: the backlog's records are
        # re-timed to when the replay sends them (in file order, LATENCY_RATE a second),
        # so a wall second holds a second of event time, as it does live (they run
        # behind the clock by the seconds this loop takes).
        t0 = time.time()
        written = 0
        with load.open("w") as out:
            while written < want:  # a short backlog is sent again (as duplicates)
                with data.path.open() as src:
                    for line in src:
                        if written >= want:
                            break
                        out.write(_retimed(line, t0 + written / LATENCY_RATE))
                        written += 1
        probes: dict[str, float] = {}  # campaign -> event time (epoch s)
        seen: dict[str, float] = {}
        replay: subprocess.Popen[bytes] | None = None
        producer = Producer({"bootstrap.servers": self.bootstrap, "acks": "all",
                             "enable.idempotence": True, "linger.ms": 0,
                             "partitioner": "murmur2_random"})  # fmt: skip
        clicks = run.catalogue.clicks.name
        try:
            deadline = time.monotonic() + 300
            while _assigned_at(log, 0) is None or run.metrics(0) is None:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise BenchError(f"latency worker did not start:\n{log_tail(log)}")
                time.sleep(0.2)
            say(f"latency: worker up; {LATENCY_RATE:,} records/s of backlog for {seconds:.0f}s "
                f"plus a probe click a second")  # fmt: skip
            replay = self.procs.start(
                [*FUNNELWATCH, "simulate", "--replay", str(load), "--rate", str(LATENCY_RATE),
                 "--progress-every", str(10**9)], run.env(), home / "load.log",
            )  # fmt: skip
            began = time.time()
            next_probe = began
            n = 0
            api = f"http://127.0.0.1:{run.ports[0]}/api/campaigns"
            stop_probes = began + seconds
            give_up = stop_probes + 20
            # steady: once the hot path's lag is within one second of traffic (a worker
            # that starts under load first catches up; those probes time the catch-up)
            steady_at: float | None = None
            lag_at = 0.0
            while time.time() < give_up and (time.time() < stop_probes or set(probes) - set(seen)):
                if proc.poll() is not None:
                    raise BenchError(f"latency worker exited:\n{log_tail(log)}")
                now = time.time()
                if steady_at is None and now >= began + LATENCY_WARMUP and now - lag_at >= 1:
                    lag_at = now
                    if run.lag()[0] <= LATENCY_RATE:
                        steady_at = now
                if now >= next_probe and now < stop_probes:
                    n += 1
                    campaign = f"probe-{self.run_id}-{n}"
                    producer.produce(clicks, key=f"clk-{campaign}", value=_probe(campaign, now))
                    producer.poll(0)
                    probes[campaign] = now
                    next_probe += 1.0
                try:
                    request = urllib.request.Request(
                        api, headers={"Authorization": f"Bearer {BENCH_READ_TOKEN}"}
                    )
                    with urllib.request.urlopen(request, timeout=5) as response:
                        listed = json.loads(response.read())["campaigns"]
                    t = time.time()
                    for c in listed:
                        cid = c["campaign_id"]
                        if cid in probes and cid not in seen:
                            seen[cid] = t
                except (OSError, ValueError, KeyError):
                    pass
                time.sleep(PROBE_POLL)
            ended = time.time()
            lag = sum(run.lag())
        finally:
            producer.flush(10)
            if replay is not None:
                self.procs.stop(replay)
            self._stop(run, workers)
        load_lines = (home / "load.log").read_text(errors="replace").splitlines()
        if steady_at is None:
            raise BenchError(f"latency: the worker never caught up with {LATENCY_RATE:,}/s")
        counted = sorted((p for p, t in probes.items() if t >= steady_at), key=lambda c: probes[c])
        latencies = sorted(seen.get(p, ended) - probes[p] for p in counted)
        missing = sum(1 for p in counted if p not in seen)
        if not latencies:
            raise BenchError("latency: no probe once steady")
        order = sorted(probes, key=lambda c: probes[c])
        say("latency: every probe in the order sent, | where steady began (s): " + " ".join(
            ("| " if p == counted[0] else "") + f"{seen.get(p, ended) - probes[p]:.1f}"
            for p in order))  # fmt: skip
        p50 = _percentile(latencies, 0.5)
        p99 = _percentile(latencies, 0.99)
        say(f"latency: {len(counted)} probes once steady ({steady_at - began:.0f}s after the "
            f"load began): p50 {p50:.2f}s, "
            f"p99 {p99:.2f}s, max {latencies[-1]:.2f}s, {missing} never visible; worker lag "
            f"at the end {lag:,}; load: {load_lines[-1] if load_lines else '?'}")  # fmt: skip
        return {"p50": p50, "p99": p99, "probes": len(counted), "missing": missing,
                "max": latencies[-1], "mean": statistics.fmean(latencies),
                "steady_after_s": steady_at - began}  # fmt: skip


def _retimed(line: str, at: float) -> str:
    """A ground-truth line whose event (if valid JSON) now happens at ``at``."""
    record = json.loads(line)
    if not record.get("valid"):
        return line
    value = json.loads(record["value"])
    moment = datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds")
    value["event_time"] = moment.replace("+00:00", "Z")
    record["value"] = json.dumps(value, separators=(",", ":"))
    return json.dumps(record, separators=(",", ":")) + "\n"


def _probe(campaign: str, now: float) -> bytes:
    moment = datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds")
    event = {
        "event_type": "ad_click",
        "event_id": f"evt-{campaign}",
        "event_time": moment.replace("+00:00", "Z"),
        "schema_version": 1,
        "click_id": f"clk-{campaign}",
        "campaign_id": campaign,
        "ad_group_id": "ag-probe",
        "ad_id": "ad-probe",
        "channel": "probe",
        "cost_micros": 1000,
        "device": "desktop",
        "geo": "DE",
    }
    return json.dumps(event, separators=(",", ":")).encode()


def _percentile(ordered: list[float], q: float) -> float:
    """Nearest rank."""
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


# ---- services --------------------------------------------------------------------------


@contextlib.contextmanager
def services(args: argparse.Namespace, home: Path, need_server: bool) -> Iterator[tuple[str, str]]:
    """Kafka's bootstrap and the ClickHouse server's URL ("" if not needed)."""
    stack = contextlib.ExitStack()
    with stack:
        bootstrap = args.kafka
        if not bootstrap:
            from funnelwatch.localstack.kafka import LocalKafka

            broker = LocalKafka(home / "kafka", port=free_port())
            broker.install(log=say)
            say(f"starting a Kafka broker on {broker.bootstrap}")
            stack.callback(broker.stop)
            broker.start()
            broker.wait_ready()
            bootstrap = broker.bootstrap
        url = args.clickhouse_url or ""
        if need_server and not url:
            from funnelwatch.localstack.clickhouse_server import LocalClickHouseServer

            server = LocalClickHouseServer(home / "clickhouse")
            server.install(log=say)
            say("starting a ClickHouse server")
            stack.callback(server.stop)
            server.start()
            url = server.url
            say(f"ClickHouse server {server.version} on port {server.tcp_port}")
        yield bootstrap, url


# ---- report ----------------------------------------------------------------------------


def _verdict(ok: bool | None) -> str:
    return "skipped" if ok is None else ("met" if ok else "MISSED")


def report(
    data: Backlog,
    preload_leads: int,
    results: dict[str, WorkerResult],
    ref: dict[str, Any] | None,
    lat: dict[str, Any] | None,
    failures: dict[str, str],
) -> dict[str, Any]:
    rows: list[tuple[str, int, float, float, float, float, float]] = [
        (f"{r.name} ({r.workers} worker{'s' if r.workers > 1 else ''})", r.records, r.seconds,
         r.events_per_s, r.cpu_s_per_million, r.peak_rss_mb, r.hot_seconds)
        for r in results.values()
    ]  # fmt: skip
    if ref is not None:
        rows.append(("reference loop (chDB)", data.records, ref["seconds"],
                     data.records / ref["seconds"], ref["cpu_seconds"] / data.records * 1e6,
                     ref["peak_rss_mb"], ref["seconds"] - ref["rolling_seconds"]))  # fmt: skip
    print()
    print(f"backlog {data.records:,} records, {data.keys:,} campaign x segment keys over "
          f"{data.campaigns} campaigns; preload {preload_leads:,} leads")  # fmt: skip
    print(f"{'variant':34} {'records':>10} {'seconds':>8} {'events/s':>9} {'CPU s/M':>8} "
          f"{'peak RSS MB':>11}   {'(ingested after s)':>18}")  # fmt: skip
    for name, records, secs, eps, cpu, rss, hot in rows:
        print(f"{name:34} {records:>10,} {secs:>8.1f} {eps:>9,.0f} {cpu:>8.1f} {rss:>11.0f}"
              f"   {hot:>18.1f}")  # fmt: skip
    print("(seconds: first assignment to drained, KPIs and rolls included; ingested: the hot "
          "path's lag 0, resp. the reference before its final roll)")  # fmt: skip
    chdb, server, multi = results.get("chdb"), results.get("server"), results.get("workers")
    ratio = (chdb.events_per_s / (data.records / ref["seconds"])) if chdb and ref else None
    speedup = multi.events_per_s / server.events_per_s if multi and server else None
    if ratio is not None:
        print(f"ratio chDB worker / reference loop: {ratio:.2f}")
    if speedup is not None and multi is not None:
        print(f"{multi.workers} workers vs one (server): x{speedup:.2f}")
    if lat is not None:
        print(f"latency at {LATENCY_RATE:,} events/s, event time -> row in kpi_minute: "
              f"p50 {lat['p50']:.2f}s, p99 {lat['p99']:.2f}s ({lat['probes']} probes, "
              f"{lat['missing']} never visible)")  # fmt: skip
    targets: dict[str, bool | None] = {
        f"events_per_s >= {TARGET_EVENTS_PER_S:,} (chDB)": (
            chdb.events_per_s >= TARGET_EVENTS_PER_S if chdb else None
        ),
        f"events_per_s >= {FLOOR_EVENTS_PER_S:,} (hard floor, chDB)": (
            chdb.events_per_s >= FLOOR_EVENTS_PER_S if chdb else None
        ),
        f"ratio >= {TARGET_RATIO}": ratio >= TARGET_RATIO if ratio is not None else None,
        f"peak RSS <= {TARGET_RSS_SERVER_MB} MB (server)": (
            server.peak_rss_mb <= TARGET_RSS_SERVER_MB if server else None
        ),
        f"peak RSS <= {TARGET_RSS_CHDB_MB} MB (chDB)": (
            chdb.peak_rss_mb <= TARGET_RSS_CHDB_MB if chdb else None
        ),
        f"p99 latency <= {TARGET_P99_S:g} s": lat["p99"] <= TARGET_P99_S if lat else None,
    }
    print("targets:")
    for name, ok in targets.items():
        print(f"  {name}: {_verdict(ok)}")
    for name, why in failures.items():
        print(f"FAILED: {name}: {why.splitlines()[0][:300]}")

    def r1(x: float | None) -> float | None:
        return None if x is None else round(x, 1)

    def r3(x: float | None) -> float | None:
        return None if x is None else round(x, 3)

    return {
        "records": data.records,
        "keys": data.keys,
        "campaigns": data.campaigns,
        "preload_leads": preload_leads,
        "events_per_s": r1(chdb.events_per_s) if chdb else None,
        "cpu_s_per_million": r1(chdb.cpu_s_per_million) if chdb else None,
        "peak_rss_mb": r1(chdb.peak_rss_mb) if chdb else None,
        "hot_path_seconds": r1(chdb.hot_seconds) if chdb else None,
        "seconds": r1(chdb.seconds) if chdb else None,
        "server_events_per_s": r1(server.events_per_s) if server else None,
        "server_seconds": r1(server.seconds) if server else None,
        "server_cpu_s_per_million": r1(server.cpu_s_per_million) if server else None,
        "server_peak_rss_mb": r1(server.peak_rss_mb) if server else None,
        "reference_events_per_s": r1(data.records / ref["seconds"]) if ref else None,
        "reference_cpu_s_per_million": (
            r1(ref["cpu_seconds"] / data.records * 1e6) if ref else None
        ),
        "reference_peak_rss_mb": r1(ref["peak_rss_mb"]) if ref else None,
        "reference_seconds": r1(ref["seconds"]) if ref else None,
        "ratio": r3(ratio),
        "workers": multi.workers if multi else 0,
        "workers2_events_per_s": r1(multi.events_per_s) if multi else None,
        "workers2_peak_rss_mb": r1(multi.peak_rss_mb) if multi else None,
        "workers2_speedup": r3(speedup),
        "roller_left_group": {k: r.roller_kicked for k, r in results.items()},
        "p50_latency_s": r3(lat["p50"]) if lat else None,
        "p99_latency_s": r3(lat["p99"]) if lat else None,
        "latency_probes": lat["probes"] if lat else None,
        "targets_met": targets,
        "failures": {name: why.splitlines()[0][:300] for name, why in failures.items()},
    }


# ---- main ------------------------------------------------------------------------------


def _days(text: str) -> tuple[float, float]:
    try:
        lo, hi = (float(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not FROM,TO (days)") from None
    if not 0 <= hi < lo <= 25:
        raise argparse.ArgumentTypeError(f"{text!r}: need 0 <= TO < FROM <= 25")
    return lo, hi


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bench-throughput", description=(__doc__ or "").splitlines()[0]
    )
    parser.add_argument("--records", type=int, default=DEFAULT_RECORDS,
                        help=f"backlog records (default {DEFAULT_RECORDS:,})")  # fmt: skip
    parser.add_argument("--preload-leads", type=int, default=DEFAULT_PRELOAD,
                        help=f"leads of join state before the backlog (default "
                             f"{DEFAULT_PRELOAD:,}; 0: none)")  # fmt: skip
    parser.add_argument("--preload-days", type=_days, default=PRELOAD_DAYS, metavar="FROM,TO",
                        help="preload event times from FROM to TO days before the backlog "
                             "(default %(default)s)")  # fmt: skip
    parser.add_argument("--skip-chdb", action="store_true",
                        help="no single worker on chDB (to time the latency alone)")  # fmt: skip
    parser.add_argument("--skip-server", action="store_true",
                        help="no single worker on the ClickHouse server")  # fmt: skip
    parser.add_argument("--skip-reference", action="store_true", help="no reference loop")
    parser.add_argument("--skip-latency", action="store_true", help="no latency phase")
    parser.add_argument("--workers", type=int, default=2,
                        help="workers of the multi-worker variant (server; 0: skip)")  # fmt: skip
    parser.add_argument("--latency-seconds", type=float, default=90.0,
                        help="length of the latency phase (default 90)")  # fmt: skip
    parser.add_argument("--kafka", help="use this broker (HOST:PORT) instead of starting one")
    parser.add_argument("--clickhouse-url", help="use this ClickHouse server (clickhouse://...)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the temporary directory (and server databases)")  # fmt: skip
    args = parser.parse_args(argv)
    if args.records < 1000:
        parser.error("--records: at least 1000")
    if args.clickhouse_url and not args.clickhouse_url.startswith("clickhouse://"):
        parser.error("--clickhouse-url must be a clickhouse:// URL (the server variants)")
    signal.signal(signal.SIGTERM, _interrupt)
    home = Path(tempfile.mkdtemp(prefix="funnelwatch-bench-"))
    procs = Processes()
    bench = Bench(args, home, procs)
    say(f"bench-throughput: {args.records:,} records, {args.preload_leads:,} preload leads, "
        f"work dir {home}; {os.cpu_count()} cores")  # fmt: skip
    need_server = not args.skip_server or args.workers > 0
    try:
        data = backlog(args.records, args.preload_days[0])
        say(f"backlog: {data.records:,} records, {data.keys:,} keys over {data.campaigns} "
            f"campaigns, event times {datetime.fromtimestamp(data.first_ms / 1000, UTC):%F %H:%M}"
            f" .. {datetime.fromtimestamp(data.last_ms / 1000, UTC):%F %H:%M} UTC")  # fmt: skip
        preload = (
            preload_file(data, args.preload_leads, args.preload_days)
            if args.preload_leads
            else None
        )
        with services(args, home, need_server) as (bootstrap, server_url):
            bench.bootstrap, bench.server_url = bootstrap, server_url
            results: dict[str, WorkerResult] = {}
            failures: dict[str, str] = {}

            def attempt(name: str, step: Callable[[], T]) -> T | None:
                """A failed variant is reported; the others still run."""
                try:
                    return step()
                except BenchError as exc:
                    say(f"{name} FAILED: {exc}")
                    failures[name] = str(exc)[:4000]
                    procs.stop_all()
                    return None

            def variant(key: str, name: str, backend: str, n: int) -> None:
                result = attempt(name, lambda: bench.worker_variant(name, backend, n, data,
                                                                    preload))  # fmt: skip
                if result is not None:
                    results[key] = result

            try:
                if not args.skip_chdb:
                    variant("chdb", "chdb", "chdb", 1)
                if not args.skip_server:
                    variant("server", "server", "server", 1)
                if args.workers > 0:
                    variant("workers", f"workers{args.workers}", "server", args.workers)
                ref = None
                if not args.skip_reference:
                    ref = attempt("reference", lambda: bench.reference(data, preload))
                lat = None
                if not args.skip_latency:
                    lat = attempt("latency", lambda: bench.latency(data, args.latency_seconds))
            finally:
                procs.stop_all()
                bench.drop_databases()
        summary = report(data, args.preload_leads, results, ref, lat, failures)
        print(json.dumps(summary), flush=True)
        return 1 if failures else 0
    except KeyboardInterrupt:
        say("interrupted: stopping what this run started")
        return 130
    except (BenchError, subprocess.CalledProcessError) as exc:
        say(f"bench-throughput failed: {exc}")
        return 1
    finally:
        procs.stop_all()
        if args.keep:
            say(f"kept {home}")
        else:
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
