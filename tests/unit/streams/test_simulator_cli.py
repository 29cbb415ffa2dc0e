"""``funnelwatch simulate`` flags: parsing, usage errors, dry runs and live pacing."""

from __future__ import annotations

import argparse
import itertools
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from funnelwatch.schemas.contracts import parse_event_time
from funnelwatch.settings import Settings, load_settings
from funnelwatch.streams.simulator import SentRecord
from funnelwatch.streams.simulator import producer as producer_module
from funnelwatch.streams.simulator.cli import (
    GENERATION_FLAGS,
    PACE_MAX_LAG,
    PACE_SLACK,
    ReplayFileError,
    SimulateUsageError,
    add_simulate_arguments,
    build_plan,
    build_replay,
    main,
    rate_paced,
    replay_records,
    run_simulate,
)
from funnelwatch.streams.simulator.generator import generate_timed
from funnelwatch.streams.simulator.ground_truth import read_ground_truth, record_to_json
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


# --- --replay: send a ground-truth file ------------------------------------------------

# One value per generation flag, so every one is tried beside --replay.
GENERATION_ARGV: dict[str, list[str]] = {
    "--mode": ["--mode", "batch"],
    "--events": ["--events", "10"],
    "--duration": ["--duration", "1h"],
    "--end": ["--end", "2025-01-01T00:00:00Z"],
    "--speed": ["--speed", "1"],
    "--seed": ["--seed", "42"],  # the default, given explicitly: still refused
    "--clicks-per-minute": ["--clicks-per-minute", "5"],
    "--campaigns": ["--campaigns", "2"],
    "--flat": ["--flat"],
    "--spend-reports": ["--spend-reports"],
    "--duplicates": ["--duplicates", "0"],
    "--out-of-order": ["--out-of-order", "0"],
    "--malformed": ["--malformed", "0"],
    "--incident": ["--incident", "form_broken:cmp-search-brand:5"],
    "--dry-run": ["--dry-run"],
}


def test_every_generation_flag_is_tried_beside_replay() -> None:
    assert set(GENERATION_ARGV) == GENERATION_FLAGS


@pytest.mark.parametrize("flag", sorted(GENERATION_ARGV))
@pytest.mark.parametrize("replay_first", [True, False])
def test_replay_with_a_generation_flag_is_an_argparse_error(
    flag: str, replay_first: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    replay = ["--replay", "truth.jsonl"]
    argv = replay + GENERATION_ARGV[flag] if replay_first else GENERATION_ARGV[flag] + replay
    with pytest.raises(SystemExit) as exited:
        parse(*argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert f"error: argument --replay: not allowed with {flag} " in err
    assert "usage:" in err


def test_replay_takes_rate_ground_truth_and_progress(tmp_path: Path) -> None:
    args = parse(
        "--replay",
        str(tmp_path / "in.jsonl"),
        "--rate",
        "250",
        "--ground-truth",
        str(tmp_path / "out.jsonl"),
        "--progress-every",
        "10",
    )
    assert args.replay == tmp_path / "in.jsonl" and args.rate == 250.0
    assert args.ground_truth == tmp_path / "out.jsonl" and args.progress_every == 10
    # generation defaults are untouched, and the tracked flags still parse as before
    plain = parse("--incident", "sales_stop:pricing:1", "--incident", "sales_stop:demo:2")
    assert [i.spec() for i in plain.incident] == ["sales_stop:pricing:1", "sales_stop:demo:2"]
    assert parse().incident == [] and parse().seed == 42 and parse("--flat").flat is True
    assert parse().replay is None and parse().rate is None


@pytest.mark.parametrize("rate", ["0", "-5", "fast"])
def test_bad_rate_is_an_argparse_error(rate: str) -> None:
    with pytest.raises(SystemExit) as exited:
        parse("--replay", "x.jsonl", "--rate", rate)
    assert exited.value.code == 2


def test_rate_without_replay_is_a_usage_error() -> None:
    with pytest.raises(SimulateUsageError, match="--rate applies to --replay only"):
        build_plan(parse("--rate", "100"), NOW)


def test_replay_needs_an_existing_file_it_does_not_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "truth.jsonl"
    with pytest.raises(SimulateUsageError, match="no such file"):
        build_replay(parse("--replay", str(path)))
    path.write_text("")
    same = tmp_path / "." / "truth.jsonl"
    with pytest.raises(SimulateUsageError, match="overwrite"):
        build_replay(parse("--replay", str(path), "--ground-truth", str(same)))
    plan = build_replay(parse("--replay", str(path), "--rate", "3"))
    assert plan.path == path and plan.rate == 3.0


def test_replay_usage_error_exits_2_before_anything_is_sent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_simulate(parse("--replay", str(tmp_path / "nope.jsonl")), settings()) == 2
    assert "--replay" in capsys.readouterr().err


class FakeProducer:
    """The slice of confluent-kafka's Producer that send_records uses; all delivered."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bytes]] = []

    def produce(self, topic: str, value: bytes, key: bytes, **_: Any) -> None:
        self.sent.append((topic, key, value))

    def poll(self, timeout: float = -1) -> int:
        return 0

    def flush(self, timeout: float = -1) -> int:
        return 0

    def close(self) -> None:
        pass


def dry_run_file(path: Path, prefix: str = "elsewhere") -> list[SentRecord]:
    """A ground-truth file written under another prefix, with base64 (non-UTF-8) values."""
    argv = ["--events", "600", "--dry-run", "--ground-truth", str(path), "--malformed", "0.2"]
    assert main(argv, load_settings(topic_prefix=prefix)) == 0
    return list(read_ground_truth(path))


def test_replay_sends_the_file_in_order_to_the_current_prefix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "truth.jsonl"
    recorded = dry_run_file(source)
    assert any('"value_encoding":"base64"' in line for line in source.read_text().splitlines())
    fake = FakeProducer()
    monkeypatch.setattr(producer_module, "make_producer", lambda settings: fake)
    again = tmp_path / "replayed.jsonl"
    capsys.readouterr()
    argv = ["--replay", str(source), "--ground-truth", str(again), "--progress-every", "200"]
    assert main(argv, settings()) == 0
    names = {"clicks": "simtest.ad-clicks", "forms": "simtest.form-submissions"}
    names["crm"] = "simtest.crm-events"
    assert fake.sent == [(names[r.topic_key], r.key, r.value) for r in recorded]
    # the replay's own ground truth: the same records, under this prefix's topic names
    assert list(read_ground_truth(again)) == recorded
    topics = {json.loads(line)["topic_name"] for line in again.read_text().splitlines()}
    assert topics <= set(names.values())
    out = capsys.readouterr().out
    assert out.startswith(f"replaying {source} to simtest.ad-clicks, ")
    assert "as fast as possible" in out and "sent 200 records (" in out
    duplicates = sum(r.duplicate for r in recorded)
    malformed = sum(not r.valid for r in recorded)
    assert "sent 600 records in " in out
    assert f"; {duplicates} duplicates, {malformed} malformed" in out


def test_replay_records_read_utf8_and_base64_values_and_skip_blank_lines(tmp_path: Path) -> None:
    raw = SentRecord("crm", b"lead-1", b"\x80\xffnot utf-8", "m-1", False, "not_json", False)
    text = SentRecord("forms", b"lead-2", '{"n":"é"}'.encode(), "e-2", True, None, True)
    path = tmp_path / "t.jsonl"
    path.write_text(record_to_json(raw, {"crm": "old.crm"}) + "\n\n" + record_to_json(text) + "\n")
    assert '"value_encoding":"base64"' in path.read_text()
    assert list(replay_records(path)) == [raw, text]


@pytest.mark.parametrize(
    "line",
    [
        "not json",
        '{"topic":"orders","key":"k","value":"v","value_encoding":"utf-8"}',
        '{"topic":"clicks","value":"v","value_encoding":"utf-8"}',
        '{"topic":"clicks","key":"k","value":"abc","value_encoding":"base64",'
        '"event_id":null,"valid":true,"reason":null,"duplicate":false}',
    ],
)
def test_a_bad_replay_line_is_named(tmp_path: Path, line: str) -> None:
    good = record_to_json(SentRecord("clicks", b"k", b"{}", "e", True, None, False))
    path = tmp_path / "t.jsonl"
    path.write_text(f"{good}\n{line}\n")
    records = replay_records(path)
    assert next(records).key == b"k"
    with pytest.raises(ReplayFileError, match=r"t\.jsonl:2: not a ground-truth record"):
        next(records)


def test_a_bad_replay_line_stops_the_run_with_exit_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    good = record_to_json(SentRecord("clicks", b"k", b"{}", "e", True, None, False))
    path = tmp_path / "t.jsonl"
    path.write_text(f"{good}\n{{broken\n{good}\n")
    fake = FakeProducer()
    monkeypatch.setattr(producer_module, "make_producer", lambda settings: fake)
    assert main(["--replay", str(path)], settings()) == 1
    assert len(fake.sent) == 1
    captured = capsys.readouterr()
    assert "t.jsonl:2: not a ground-truth record" in captured.err
    assert "sent 1 records in " in captured.out


class FakeClock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def release_times(
    rate: float, n: int, clock: FakeClock, work: Callable[[int], float] = lambda _: 0.0
) -> list[float]:
    """Wall times at which rate_paced hands out each of ``n`` records; ``work(i)`` is
    how long the sender spends on record i."""
    records = [SentRecord("clicks", b"k", b"v", None, True, None, False)] * n
    times: list[float] = []
    for i, _ in enumerate(rate_paced(records, rate, clock=clock, sleep=clock.sleep)):
        times.append(clock.now)
        clock.now += work(i)
    return times


def test_rate_paces_an_absolute_schedule_without_drift() -> None:
    clock = FakeClock()
    times = release_times(100.0, 501, clock, work=lambda _: 0.0003)
    assert times[-1] - times[0] == pytest.approx(5.0, abs=1e-9)  # 500 gaps of 10 ms
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert max(gaps) == pytest.approx(0.01) and min(gaps) == pytest.approx(0.01)


def test_rate_releases_no_burst_beyond_the_slack() -> None:
    clock = FakeClock()
    times = release_times(50_000.0, 20_000, clock)  # 0.4 s at 50k/s
    assert times[-1] - times[0] == pytest.approx(0.4, abs=PACE_SLACK)
    for i, t in enumerate(times):  # never ahead of schedule by more than the slack
        assert t >= times[0] + i / 50_000.0 - PACE_SLACK - 1e-9


def test_a_sender_that_falls_behind_is_not_followed_by_a_burst() -> None:
    clock = FakeClock()
    stall = 2.0  # record 100 takes two seconds (a slow broker)
    times = release_times(100.0, 301, clock, work=lambda i: stall if i == 100 else 0.0)
    after = times[101:]
    # after the stall, at most PACE_MAX_LAG worth of records go at full speed, then 100/s
    burst = sum(1 for a, b in itertools.pairwise(after) if b - a < 0.005)
    assert burst <= PACE_MAX_LAG * 100 + 1
    assert after[-1] - after[0] == pytest.approx(2.0 - PACE_MAX_LAG, abs=0.02)


def test_rate_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        next(rate_paced([], 0))
