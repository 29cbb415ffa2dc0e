"""``funnelwatch simulate`` flags: parsing, usage errors, dry runs and live pacing."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from funnelwatch.schemas.contracts import parse_event_time
from funnelwatch.settings import Settings, load_settings
from funnelwatch.streams.simulator.cli import (
    SimulateUsageError,
    add_simulate_arguments,
    build_plan,
    main,
    run_simulate,
)
from funnelwatch.streams.simulator.generator import generate_timed
from funnelwatch.streams.simulator.ground_truth import read_ground_truth
from funnelwatch.streams.simulator.live import paced

NOW = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="funnelwatch simulate")
    add_simulate_arguments(parser)
    return parser.parse_args(list(argv))


def settings() -> Settings:
    return load_settings(topic_prefix="simtest")


@pytest.mark.parametrize(
    "argv",
    [
        ["--incident", "form_broken:cmp-search-brand"],
        ["--incident", "outage:x:1"],
        ["--duplicates", "1.5"],
        ["--malformed", "lots"],
        ["--duration", "2x"],
        ["--events", "0"],
        ["--speed", "0"],
        ["--mode", "replay"],
        ["--end", "yesterday"],
    ],
)
def test_bad_flags_are_argparse_errors(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        parse(*argv)
    assert exited.value.code == 2
    assert "error:" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--dry-run"], "--ground-truth"),
        (["--speed", "5"], "--mode live"),
        (["--incident", "form_broken:cmp-nope:5"], "no campaign"),
        (["--incident", "sales_stop:webinar:5"], "no form type"),
        (["--end", "2999-01-01T00:00:00Z"], "future"),
        (["--mode", "live", "--speed", "10"], "--duration"),
        (["--mode", "live", "--end", "2025-01-01T00:00:00Z"], "batch only"),
    ],
)
def test_bad_flag_combinations_are_usage_errors(argv: list[str], message: str) -> None:
    with pytest.raises(SimulateUsageError, match=message):
        build_plan(parse(*argv), NOW)


def test_usage_error_exits_2_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "truth.jsonl"
    args = parse("--incident", "form_broken:cmp-nope:5", "--dry-run", "--ground-truth", str(path))
    assert run_simulate(args, settings()) == 2
    assert "no campaign 'cmp-nope'" in capsys.readouterr().err
    assert not path.exists()


def test_batch_plan_ends_at_end_and_sizes_the_range_for_events() -> None:
    plan = build_plan(parse("--events", "20000", "--seed", "5"), NOW)
    assert plan.config.end == NOW and not plan.live
    assert plan.config.max_records == 20000
    assert timedelta(minutes=30) < NOW - plan.config.start < timedelta(days=2)
    earlier = build_plan(parse("--events", "20000", "--end", "2025-06-01T00:00:00Z"), NOW).config
    assert earlier.end == datetime(2025, 6, 1, tzinfo=UTC)
    assert earlier.end - earlier.start != plan.config.end - plan.config.start  # other rhythm
    default = build_plan(parse(), NOW).config
    assert default.end is not None and default.end - default.start == timedelta(hours=24)


def test_flags_reach_the_config() -> None:
    plan = build_plan(
        parse(
            "--campaigns",
            "3",
            "--duplicates",
            "0.1",
            "--out-of-order",
            "0.2",
            "--malformed",
            "0",
            "--flat",
            "--incident",
            "sales_stop:pricing:1h:2h",
            "--duration",
            "3h",
        ),
        NOW,
    )
    cfg = plan.config
    assert len(cfg.campaigns) == 3 and cfg.campaigns[0].campaign_id == "cmp-search-brand"
    assert (cfg.duplicate_rate, cfg.out_of_order_rate, cfg.malformed_rate) == (0.1, 0.2, 0.0)
    assert not cfg.diurnal and not cfg.weekly
    assert cfg.incidents[0].spec() == "sales_stop:pricing:60:120"
    assert cfg.end is not None and cfg.end - cfg.start == timedelta(hours=3)


def test_dry_run_writes_exactly_the_requested_records(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "gt" / "truth.jsonl"
    args = parse("--events", "5000", "--dry-run", "--ground-truth", str(path), "--seed", "9")
    assert run_simulate(args, settings()) == 0
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(lines) == 5000
    assert {line["topic_name"] for line in lines} == {
        "simtest.ad-clicks",
        "simtest.form-submissions",
        "simtest.crm-events",
    }
    assert "generated 5000 records" in capsys.readouterr().out


def test_live_plan_with_speed_starts_in_the_past_and_ends_at_the_wall_clock() -> None:
    plan = build_plan(parse("--mode", "live", "--speed", "10", "--duration", "60"), NOW)
    assert plan.live and plan.speed == 10
    assert plan.config.start == NOW - timedelta(minutes=54)
    assert plan.config.end == NOW + timedelta(minutes=6)
    realtime = build_plan(parse("--mode", "live"), NOW)
    assert realtime.config.start == NOW and realtime.config.end is None


def test_live_pacing_never_releases_an_event_timed_after_the_wall_clock() -> None:
    plan = build_plan(
        parse("--mode", "live", "--speed", "20", "--duration", "2h", "--malformed", "0"), NOW
    )
    wall = [NOW.timestamp()]

    def sleep(seconds: float) -> None:
        wall[0] += seconds

    released = 0
    timed = generate_timed(plan.config)
    for record in paced(timed, plan.config.start_ms, 20, clock=lambda: wall[0], sleep=sleep):
        event_time = parse_event_time(json.loads(record.value)["event_time"])
        assert event_time.timestamp() <= wall[0]
        released += 1
    assert released > 1000
    # The run took its compressed wall time: two simulated hours at speed 20.
    assert wall[0] - NOW.timestamp() == pytest.approx(360, abs=5)


def test_live_dry_run_stamps_no_future_event_time(tmp_path: Path) -> None:
    path = tmp_path / "live.jsonl"
    args = parse(
        "--mode",
        "live",
        "--speed",
        "600",
        "--duration",
        "1m",
        "--dry-run",
        "--ground-truth",
        str(path),
        "--clicks-per-minute",
        "600",
        "--flat",
    )
    before = datetime.now(UTC)
    assert run_simulate(args, settings()) == 0
    after = datetime.now(UTC)
    times = [
        parse_event_time(json.loads(r.value)["event_time"])
        for r in read_ground_truth(path)
        if r.valid
    ]
    assert len(times) > 100
    assert before - timedelta(minutes=1) <= min(times) and max(times) <= after


def test_main_parses_argv_and_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "truth.jsonl"
    argv = ["--events", "300", "--dry-run", "--ground-truth", str(path), "--campaigns", "2"]
    assert main(argv, settings()) == 0
    assert len(path.read_text().splitlines()) == 300
    with pytest.raises(SystemExit) as exited:
        main(["--incident", "nope"], settings())
    assert exited.value.code == 2
    assert "funnelwatch simulate: error:" in capsys.readouterr().err
