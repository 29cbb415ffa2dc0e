"""``funnelwatch demo``: the whole pipeline on one machine, with a live terminal board.

It uses the Kafka of the settings if one answers, else starts a local Kafka 4.x broker
(resolving its jars with Maven on first use); it writes to the ClickHouse of the
settings if one is given, else to an embedded chDB of its own. It runs the simulator
(recent simulated traffic replayed faster than real time into the present, with a
broken form injected in one campaign, see :mod:`.plan`) and the worker in this process,
and redraws the board every second. ``--duration`` stops it by itself; Ctrl-C stops it
cleanly at any time.

Until the first KPI row exists the terminal shows what is starting (broker, worker,
first records, first KPI rows) with elapsed seconds (:mod:`.progress`); the board is
drawn as soon as any KPI row exists. Everything goes to the terminal the demo started
on: the worker runs with ``redirect_stdouts=False`` (Faust would otherwise send stdout,
and so every frame of the board, to its logger) and without Faust's start-up spinner.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from rich.console import Console
from rich.live import Live
from rich.text import Text

from funnelwatch.settings import Settings, current_settings, tokens_of

from .plan import DemoPlan, plan_demo
from .progress import Screen, StartupProgress

DEFAULT_SPEED = 60.0
#: the events/s on the board are averaged over this many seconds
RATE_SECONDS = 5.0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="funnelwatch demo", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--duration",
        type=float,
        default=None,
        metavar="SECONDS",
        help="stop after this many seconds (default: run until Ctrl-C)",
    )
    p.add_argument(
        "--speed",
        type=float,
        default=DEFAULT_SPEED,
        help="simulated seconds per real second (default %(default)s)",
    )
    p.add_argument(
        "--incident",
        action="append",
        default=None,
        metavar="SPEC",
        help="incident for the simulator, minutes after the simulated start (default: "
        "the first campaign's form breaks a wall minute into the replay, a simulated "
        "hour at the default speed, or at a third of a shorter run), "
        "e.g. form_broken:cmp-search-brand:20",
    )
    p.add_argument("--campaigns", type=int, default=6, help="number of campaigns (default 6)")
    p.add_argument("--seed", type=int, default=1, help="simulator seed (default 1)")
    return p  # fmt: skip


def main(argv: list[str]) -> int:
    from funnelwatch.streams.simulator.cli import SimulateUsageError

    args = build_parser().parse_args(argv)
    # The terminal as it is now: the board must reach it whatever redirects sys.stdout later.
    console = Console(file=sys.stdout)
    base = current_settings()
    try:
        plan = plan_demo(
            duration_seconds=args.duration, speed=args.speed, campaigns=args.campaigns,
            seed=args.seed, incidents=args.incident, now=_utcnow(),
            max_event_age_days=base.max_event_age_days,
        )  # fmt: skip
    except SimulateUsageError as exc:
        print(f"funnelwatch demo: error: {exc}", file=sys.stderr)
        return 2
    run_id = time.strftime("demo-%Y%m%d-%H%M%S")
    home = base.data_dir / "demo" / run_id
    home.mkdir(parents=True, exist_ok=True)
    sent = _Sent()
    progress = StartupProgress(console.print, sent=sent.count, consumed=_events_in)
    screen = Screen(progress)
    # transient: the last frame is printed once after the stop, on terminals and pipes alike
    live = Live(screen, console=console, refresh_per_second=4, transient=True)
    broker: Any = None
    try:
        with live:
            broker = _ensure_kafka(base, console, progress)
            settings = base.model_copy(
                update={
                    "kafka_bootstrap": broker.bootstrap if broker else base.kafka_bootstrap,
                    "clickhouse_url": base.clickhouse_url or f"chdb://{home / 'chdb'}",
                    "data_dir": home,
                    "topic_prefix": run_id,
                    "app_id": run_id,
                    "batch_max_seconds": 0.25,
                    # the board's API needs a read token: the demo's own, random, unless
                    # one is configured (printed in the board's URL fragment below)
                    "read_token": base.read_token or SecretStr(secrets.token_urlsafe(24)),
                }
            )
            started, code = _run(args, plan, settings, home, console, progress, screen, sent)
        if screen.board is not None:
            console.print(screen.board)
        else:
            console.print("no KPI row was written before the stop: no board to show")
        console.print(f"demo stopped after {time.monotonic() - started:.0f}s")
        return code
    finally:
        if broker is not None:
            console.print("stopping the local Kafka broker")
            broker.stop()


class _Sent:
    """Counts the records the simulator handed to the producer (on its thread) and calls
    ``on_first`` with the first."""

    def __init__(self) -> None:
        self.n = 0
        self.on_first: Callable[[], None] = lambda: None

    def __call__(self, _record: Any) -> None:
        self.n += 1
        if self.n == 1:
            self.on_first()

    def count(self) -> int:
        return self.n


def _events_in() -> float:
    from funnelwatch.processors.metrics import EVENTS_IN

    return float(sum(s.value for m in EVENTS_IN.collect() for s in m.samples
                     if s.name.endswith("_total")))  # fmt: skip


def _ensure_kafka(settings: Settings, console: Console, progress: StartupProgress) -> Any:
    from funnelwatch.localstack.kafka import LocalKafka, is_reachable
    from funnelwatch.localstack.ports import free_port, is_listening

    if is_reachable(settings.kafka_bootstrap):
        progress.done("kafka", f"using Kafka at {settings.kafka_bootstrap}")
        return None
    port = 9092 if not is_listening("127.0.0.1", 9092) else free_port()
    console.print(f"no Kafka at {settings.kafka_bootstrap}: starting a local broker on {port}")
    broker = LocalKafka(settings.data_dir / "kafka", port=port)
    broker.install(log=console.print)
    progress.begin("kafka", f"starting the local Kafka broker on port {port}")
    broker.start()
    try:
        broker.wait_ready()
    except BaseException:  # Ctrl-C or a broker that never answered: do not leave it running
        broker.stop()
        raise
    progress.done("kafka", f"Kafka broker ready at {broker.bootstrap}")
    return broker


def _run(
    args: argparse.Namespace,
    plan: DemoPlan,
    settings: Settings,
    home: Path,
    console: Console,
    progress: StartupProgress,
    screen: Screen,
    sent: _Sent,
) -> tuple[float, int]:
    """Run the worker until it stops; returns the monotonic time the run started and the
    worker's exit code."""
    from funnelwatch.processors.app import FunnelWorker, create_pipeline
    from funnelwatch.streams.admin import ensure_topics
    from funnelwatch.streams.simulator.producer import send_records

    from .board import Board, render_board

    pipeline = create_pipeline(settings)
    ensure_topics(settings.kafka_bootstrap, pipeline.catalogue.all(), log=console.print)
    pace: dict[str, float] = {}

    def simulate() -> None:
        wall0 = time.time()
        pace["fast_until"] = wall0 + plan.catch_up_seconds(wall0)
        send_records(plan.records(), settings, progress_every=0, log=lambda _: None,
                     on_sent=sent)  # fmt: skip

    # daemon: paced by sleeps, it must not keep the process alive after Ctrl-C
    sim = threading.Thread(target=simulate, name="simulator", daemon=True)
    started = time.monotonic()
    state: dict[str, Any] = {"board": None}
    # (time, events consumed) of the last ticks: the rate is shown over RATE_SECONDS, as
    # the hot path consumes in batches and a one-second rate jumps with them
    counts: deque[tuple[float, float]] = deque([(started, 0.0)])
    expected = [c.campaign_id for c in plan.config.campaigns]

    @pipeline.app.timer(1.0)  # type: ignore[untyped-decorator]
    async def refresh() -> None:
        progress.done("worker", "worker running: web server, hot path, roller")
        total = _events_in()
        if total > 0:
            progress.done("consume", "hot path: first events consumed")
        else:
            progress.begin("consume", "hot path: waiting for the first events")

        def poll(client: Any) -> Any:
            if state["board"] is None:
                state["board"] = Board(client, funnel=pipeline.funnel,
                                       expected_campaigns=expected)  # fmt: skip
            return state["board"].poll()

        try:
            snapshot = await pipeline.reader.run(poll)
        except Exception as exc:  # a failed read: the next tick tries again
            console.print(Text(f"board query failed ({exc}); retrying", style="dim"))
            snapshot = None
        now = time.monotonic()
        counts.append((now, total))
        while len(counts) > 2 and now - counts[1][0] >= RATE_SECONDS:
            counts.popleft()
        rate = (total - counts[0][1]) / max(now - counts[0][0], 1e-6)
        if snapshot is not None and snapshot.has_data:
            progress.done("kpis", "first KPI rows: the board follows")
            fast = time.time() < pace.get("fast_until", 0.0)
            traffic = f"{plan.speed:g}x real time" if fast else "real time"
            screen.show(render_board(snapshot, events_per_second=rate, traffic=traffic))
        elif snapshot is not None:
            progress.begin("kpis", "waiting for the first KPI rows in ClickHouse")
        if args.duration is not None and now - started >= args.duration:
            os.kill(os.getpid(), signal.SIGTERM)  # the worker's own clean shutdown path

    console.print(f"demo {settings.topic_prefix}: ClickHouse {settings.clickhouse_url_redacted}; "
                  f"worker log {home / 'worker.log'}; Ctrl-C to stop")  # fmt: skip
    board = f"http://{settings.web_bind}:{settings.web_port}/"
    # the fragment never reaches a server; the page moves it into sessionStorage. A
    # configured token is the operator's secret: named, never printed (only the demo's own)
    own = current_settings().read_token is None
    read_token = tokens_of(settings.read_token)[0] if own else "<FUNNELWATCH_READ_TOKEN>"
    console.print(
        f"live board: {board}#token={read_token} (API description: {board}api/openapi.json)"
    )
    lead = (time.time() - plan.start_ms / 1000.0) / 60
    back = f"{lead / 60:.0f} h" if lead >= 120 else f"{lead:.0f} min"
    console.print(
        f"traffic: {len(expected)} campaigns, simulated from {back} ago, replayed "
        f"{plan.speed:g}x into the present; incidents (minutes after its start): "
        f"{', '.join(i.spec() for i in plan.config.incidents) or 'none'}"
    )
    progress.begin("traffic", "simulator: waiting for the first records")
    sent.on_first = lambda: progress.done("traffic", "simulator: first records sent")
    sim.start()
    worker = FunnelWorker(
        pipeline.app, loglevel="warn", logfile=str(home / "worker.log"), quiet=True,
        redirect_stdouts=False,
    )  # fmt: skip
    worker.spinner = None  # the progress above says what is starting
    progress.begin("worker", "starting the worker: ClickHouse migrations, web, hot path, roller")
    code: Any = 0
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:  # the worker exits by SystemExit, 0 after a clean stop
        code = exc.code
    return started, code if isinstance(code, int) else int(code is not None)


def _utcnow() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)
