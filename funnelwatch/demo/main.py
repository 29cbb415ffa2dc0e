"""``funnelwatch demo``: the whole pipeline on one machine, with a live terminal board.

It uses the Kafka of the settings if one answers, else starts a local Kafka 4.x broker
(resolving its jars with Maven on first use); it writes to the ClickHouse of the
settings if one is given, else to an embedded chDB of its own. It runs the simulator
in live mode (faster than real time, with a broken form injected in one campaign) and
the worker in this process, and redraws the board every second. ``--duration`` stops
it by itself; Ctrl-C stops it cleanly at any time.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live

from funnelwatch.settings import Settings, current_settings

DEFAULT_SPEED = 60.0


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
        help="incident for the simulator (default: the first campaign's form "
        "breaks at a third of the run), e.g. form_broken:cmp-search-brand:20",
    )
    p.add_argument("--campaigns", type=int, default=6, help="number of campaigns (default 6)")
    p.add_argument("--seed", type=int, default=1, help="simulator seed (default 1)")
    return p  # fmt: skip


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    console = Console()
    base = current_settings()
    run_id = time.strftime("demo-%Y%m%d-%H%M%S")
    home = base.data_dir / "demo" / run_id
    home.mkdir(parents=True, exist_ok=True)
    broker = _ensure_kafka(base, console)
    settings = base.model_copy(
        update={
            "kafka_bootstrap": broker.bootstrap if broker else base.kafka_bootstrap,
            "clickhouse_url": base.clickhouse_url or f"chdb://{home / 'chdb'}",
            "data_dir": home,
            "topic_prefix": run_id,
            "app_id": run_id,
            "batch_max_seconds": 0.25,
        }
    )
    try:
        return _run(args, settings, home, console)
    finally:
        if broker is not None:
            console.print("stopping the local Kafka broker")
            broker.stop()


def _ensure_kafka(settings: Settings, console: Console) -> Any:
    from funnelwatch.localstack.kafka import LocalKafka, is_reachable
    from funnelwatch.localstack.ports import free_port, is_listening

    if is_reachable(settings.kafka_bootstrap):
        console.print(f"using Kafka at {settings.kafka_bootstrap}")
        return None
    port = 9092 if not is_listening("127.0.0.1", 9092) else free_port()
    console.print(f"no Kafka at {settings.kafka_bootstrap}: starting a local broker on {port}")
    broker = LocalKafka(settings.data_dir / "kafka", port=port)
    broker.install(log=console.print)
    broker.start()
    broker.wait_ready()
    return broker


def _simulator_args(args: argparse.Namespace, minutes: int) -> argparse.Namespace:
    from funnelwatch.streams.simulator.cli import add_simulate_arguments
    from funnelwatch.streams.simulator.model import default_campaigns

    incidents = args.incident or [
        f"form_broken:{default_campaigns(args.campaigns)[0].campaign_id}:{max(1, minutes // 3)}"
    ]
    parser = argparse.ArgumentParser()
    add_simulate_arguments(parser)
    argv = ["--mode", "live", "--speed", str(args.speed), "--duration", f"{minutes}m",
            "--campaigns", str(args.campaigns), "--seed", str(args.seed), "--flat"]  # fmt: skip
    for spec in incidents:
        argv += ["--incident", spec]
    return parser.parse_args(argv)


def _run(args: argparse.Namespace, settings: Settings, home: Path, console: Console) -> int:
    from funnelwatch.processors.app import FunnelWorker, create_pipeline
    from funnelwatch.processors.metrics import EVENTS_IN
    from funnelwatch.streams.admin import ensure_topics
    from funnelwatch.streams.simulator.cli import build_plan, plan_records
    from funnelwatch.streams.simulator.producer import send_records

    from .board import Board, render_board

    pipeline = create_pipeline(settings)
    ensure_topics(settings.kafka_bootstrap, pipeline.catalogue.all(), log=console.print)
    # simulated minutes: the whole run when it has a duration, else a long day
    minutes = int((args.duration or 86_400) * args.speed / 60) + 1
    plan = build_plan(_simulator_args(args, minutes), _utcnow())
    sim = threading.Thread(
        target=send_records,
        args=(plan_records(plan), settings),
        kwargs={"progress_every": 0, "log": lambda _: None},
        name="simulator",
        daemon=True,  # paced by sleeps; it must not keep the process alive after Ctrl-C
    )
    started = time.monotonic()
    state: dict[str, Any] = {"board": None, "events": 0.0, "at": started}
    live = Live(console=console, auto_refresh=False, transient=False)

    @pipeline.app.timer(1.0)  # type: ignore[untyped-decorator]
    async def refresh() -> None:
        def poll(client: Any) -> Any:
            if state["board"] is None:
                state["board"] = Board(client, funnel=pipeline.funnel)
            return state["board"].poll()

        snapshot = await pipeline.reader.run(poll)
        total = sum(s.value for m in EVENTS_IN.collect() for s in m.samples
                    if s.name.endswith("_total"))  # fmt: skip
        now = time.monotonic()
        rate = (total - state["events"]) / max(now - state["at"], 1e-6)
        state.update(events=total, at=now, last=snapshot)
        live.update(render_board(snapshot, events_per_second=rate), refresh=True)
        if args.duration is not None and now - started >= args.duration:
            os.kill(os.getpid(), signal.SIGTERM)  # the worker's own clean shutdown path

    console.print(f"demo {settings.topic_prefix}: ClickHouse {settings.clickhouse_url_redacted}; "
                  f"worker log {home / 'worker.log'}; Ctrl-C to stop")  # fmt: skip
    board = f"http://{settings.web_bind}:{settings.web_port}/"
    console.print(f"live board: {board} (API description: {board}api/openapi.json)")
    sim.start()
    worker = FunnelWorker(
        pipeline.app, loglevel="warn", logfile=str(home / "worker.log"), quiet=True
    )
    with live, contextlib.suppress(SystemExit):  # the worker exits by SystemExit
        worker.execute_from_commandline()
    if state.get("last") is not None:
        console.print(render_board(state["last"]))
    console.print(f"demo stopped after {time.monotonic() - started:.0f}s")
    return 0


def _utcnow() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)
