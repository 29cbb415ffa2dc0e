"""``funnelwatch simulate``: argument parsing and the run itself.

Invariants: every bad flag or flag combination is reported as a usage error (exit
code 2) before anything is generated or sent; the ground-truth file lists exactly the
records handed to the producer, in send order.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

from funnelwatch.settings import Settings

from .generator import generate, generate_timed, run_tag
from .ground_truth import GroundTruthWriter
from .incidents import Incident, parse_incident, parse_minutes
from .live import paced
from .model import FORM_TYPES, SimulationConfig, default_campaigns
from .planning import live_start, plan_minutes
from .records import SentRecord

DEFAULT_BATCH_MINUTES = 24 * 60
T = TypeVar("T", int, float)


class SimulateUsageError(ValueError):
    """A flag combination that cannot run; reported like an argparse error."""


def _number(
    convert: Callable[[str], T], kind: str, ok: Callable[[T], bool], rule: str
) -> Callable[[str], T]:
    """An argparse type: ``convert`` the flag's text, then check it against ``ok``."""

    def parse(text: str) -> T:
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {kind}") from None
        if not ok(value):
            raise argparse.ArgumentTypeError(f"{text!r} {rule}")
        return value

    return parse


_positive_int = _number(int, "an integer", lambda v: v >= 1, "must be at least 1")
_positive_float = _number(float, "a number", lambda v: v > 0, "must be positive")
_rate = _number(
    float, "a number", lambda v: 0.0 <= v < 1.0, "must be a fraction in [0, 1), e.g. 0.01"
)


def _duration(text: str) -> int:
    try:
        minutes = parse_minutes(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if minutes < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is shorter than a minute")
    return minutes


def _incident(text: str) -> Incident:
    try:
        return parse_incident(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 time") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def add_simulate_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``simulate`` flags to ``parser``."""
    add = parser.add_argument
    add(
        "--mode",
        choices=("batch", "live"),
        default="batch",
        help="batch: a historical range ending now (or --end), sent as fast as possible; "
        "live: event times follow the wall clock (default: batch)",
    )
    add(
        "--events",
        type=_positive_int,
        metavar="N",
        help="stop after N records sent (duplicates and malformed included); in batch mode "
        "without --duration the range is sized to hold N",
    )
    add(
        "--duration",
        type=_duration,
        metavar="DUR",
        help="simulated time span: minutes (90) or with a unit (90m, 6h, 3d); "
        f"batch default: {DEFAULT_BATCH_MINUTES // 60}h unless --events; "
        "live default: until interrupted",
    )
    add(
        "--end",
        type=_moment,
        metavar="TIME",
        help="batch mode: end of the simulated range, ISO 8601, not in the future (default: now)",
    )
    add(
        "--speed",
        type=_positive_float,
        default=1.0,
        help="live mode: simulated minutes per wall-clock minute (default: 1)",
    )
    add("--seed", type=int, default=42, help="random seed; same seed and range, same records")
    add(
        "--clicks-per-minute",
        type=_positive_float,
        default=100.0,
        metavar="RATE",
        help="clicks per minute at the weekday peak (default: 100)",
    )
    add(
        "--campaigns",
        type=_positive_int,
        default=8,
        metavar="N",
        help="number of campaigns (default: 8)",
    )
    add("--flat", action="store_true", help="no diurnal or weekly rhythm: constant rate")
    add(
        "--duplicates",
        type=_rate,
        default=0.01,
        metavar="RATE",
        help="share of records re-sent as exact duplicates (default: 0.01)",
    )
    add(
        "--out-of-order",
        type=_rate,
        default=0.02,
        metavar="RATE",
        help="share of leads with CRM events whose form is sent after their first CRM "
        "event (default: 0.02)",
    )
    add(
        "--malformed",
        type=_rate,
        default=0.005,
        metavar="RATE",
        help="share of malformed records mixed in (default: 0.005)",
    )
    add(
        "--incident",
        type=_incident,
        action="append",
        default=[],
        metavar="SPEC",
        help="scheduled incident, repeatable: form_broken:<campaign_id>:<from>[:<until>] or "
        "sales_stop:<form_type>:<from>[:<until>], times in minutes after the start "
        "(e.g. form_broken:cmp-search-brand:20)",
    )
    add(
        "--ground-truth",
        type=Path,
        metavar="PATH",
        help="write every sent record to this JSON Lines file (for offline oracles)",
    )
    add(
        "--dry-run",
        action="store_true",
        help="generate and write the ground truth only; send nothing to Kafka",
    )
    add(
        "--progress-every",
        type=_positive_int,
        default=50_000,
        metavar="N",
        help="print progress every N records (default: 50000)",
    )


def build_parser(prog: str = "funnelwatch simulate") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Send realistic funnel traffic (clicks, leads, CRM events) with "
        "incidents and faults to the source topics, and write a ground-truth file.",
    )
    add_simulate_arguments(parser)
    return parser


def main(argv: list[str] | None = None, settings: Settings | None = None) -> int:
    """Entry point of ``funnelwatch simulate``: parse ``argv`` (argparse exits with code 2
    on a bad flag) and run."""
    args = build_parser().parse_args(argv)
    if settings is None:
        from funnelwatch.settings import current_settings

        settings = current_settings()
    return run_simulate(args, settings)


@dataclass(frozen=True)
class SimulationPlan:
    """A validated run: the config and how to release its records."""

    config: SimulationConfig
    live: bool
    speed: float


def build_plan(args: argparse.Namespace, now: datetime) -> SimulationPlan:
    """Check the flag combination and build the run's config; raise SimulateUsageError."""
    live = args.mode == "live"
    if args.dry_run and args.ground_truth is None:
        raise SimulateUsageError("--dry-run needs --ground-truth PATH (there is nothing else)")
    if not live and args.speed != 1.0:
        raise SimulateUsageError("--speed applies to --mode live only")
    if live and args.end is not None:
        raise SimulateUsageError("--end applies to --mode batch only (live starts now)")
    campaigns = default_campaigns(args.campaigns)
    _check_incidents(args.incident, {c.campaign_id for c in campaigns})
    base = SimulationConfig(
        seed=args.seed,
        start=now,
        end=None,
        campaigns=campaigns,
        clicks_per_minute=args.clicks_per_minute,
        diurnal=not args.flat,
        weekly=not args.flat,
        duplicate_rate=args.duplicates,
        out_of_order_rate=args.out_of_order,
        malformed_rate=args.malformed,
        incidents=tuple(args.incident),
        max_records=args.events,
    )
    minutes: int | None = args.duration
    if live:
        if minutes is None and args.events is not None and args.speed > 1.0:
            minutes = plan_minutes(base, args.events, now)
        if args.speed > 1.0 and minutes is None:
            raise SimulateUsageError("--speed above 1 needs --duration or --events")
        start = live_start(now, minutes, args.speed)
        end = None if minutes is None else start + timedelta(minutes=minutes)
        return SimulationPlan(_with_range(base, start, end), True, args.speed)
    end = args.end or now
    if end > now:
        raise SimulateUsageError("--end is in the future: a batch run simulates the past")
    if minutes is None:
        minutes = (
            DEFAULT_BATCH_MINUTES if args.events is None else plan_minutes(base, args.events, end)
        )
    return SimulationPlan(_with_range(base, end - timedelta(minutes=minutes), end), False, 1.0)


def _with_range(base: SimulationConfig, start: datetime, end: datetime | None) -> SimulationConfig:
    # Whole milliseconds: the wire format has no finer resolution.
    start = start.replace(microsecond=start.microsecond // 1000 * 1000)
    if end is not None:
        end = end.replace(microsecond=end.microsecond // 1000 * 1000)
    return replace(base, start=start, end=end)


def _check_incidents(incidents: list[Incident], campaign_ids: set[str]) -> None:
    for incident in incidents:
        if incident.kind == "form_broken" and incident.target not in campaign_ids:
            raise SimulateUsageError(
                f"--incident {incident.spec()}: no campaign {incident.target!r}; "
                f"campaigns: {', '.join(sorted(campaign_ids))}"
            )
        if incident.kind == "sales_stop" and incident.target not in FORM_TYPES:
            raise SimulateUsageError(
                f"--incident {incident.spec()}: no form type {incident.target!r}; "
                f"form types: {', '.join(FORM_TYPES)}"
            )


def plan_records(plan: SimulationPlan) -> Iterator[SentRecord]:
    """The run's records in send order, paced to the wall clock in live mode."""
    if plan.live:
        return paced(generate_timed(plan.config), plan.config.start_ms, plan.speed)
    return generate(plan.config)


def run_simulate(args: argparse.Namespace, settings: Settings) -> int:
    """Run ``funnelwatch simulate``; returns the process exit code."""
    log: Callable[[str], None] = print
    try:
        plan = build_plan(args, datetime.now(UTC))
    except SimulateUsageError as exc:
        print(f"funnelwatch simulate: error: {exc}", file=sys.stderr)
        return 2
    cfg = plan.config
    until = cfg.end.isoformat() if cfg.end is not None else "interrupted"
    log(
        f"simulating {args.mode} {cfg.start.isoformat()} .. {until}, seed {cfg.seed}, "
        f"run tag {run_tag(cfg)}, {len(cfg.campaigns)} campaigns"
    )
    tally: Counter[str] = Counter()
    writer = None
    if args.ground_truth is not None:
        from .producer import topic_names

        writer = GroundTruthWriter(args.ground_truth, topic_names(settings))

    def seen(record: SentRecord) -> None:
        tally[record.topic_key] += 1
        tally["duplicates"] += record.duplicate
        tally["malformed"] += not record.valid
        if writer is not None:
            writer.write(record)

    began = time.monotonic()
    failed = 0
    try:
        if args.dry_run:
            for n, record in enumerate(plan_records(plan), 1):
                seen(record)
                if n % args.progress_every == 0:
                    log(f"generated {n} records")
        else:
            from .producer import send_records  # kafka-python only when sending

            result = send_records(
                plan_records(plan),
                settings,
                progress_every=args.progress_every,
                log=log,
                on_sent=seen,
            )
            failed = result.failed
            if result.first_error is not None:
                log(f"delivery failed for {failed} records, first: {result.first_error}")
    except KeyboardInterrupt:
        log("interrupted")
    finally:
        if writer is not None:
            writer.close()
    total = tally["clicks"] + tally["forms"] + tally["crm"]
    elapsed = time.monotonic() - began
    verb = "generated" if args.dry_run else "sent"
    log(
        f"{verb} {total} records in {elapsed:.1f}s ({total / max(elapsed, 1e-9):,.0f}/s): "
        f"clicks {tally['clicks']}, forms {tally['forms']}, crm {tally['crm']}; "
        f"{tally['duplicates']} duplicates, {tally['malformed']} malformed"
    )
    if args.events is not None and total < args.events and not plan.live:
        log(
            f"note: the range held only {total} of the {args.events} records asked for; "
            "pass a longer --duration or a higher --clicks-per-minute"
        )
    if writer is not None:
        log(f"ground truth: {writer.path} ({writer.count} lines)")
    return 1 if failed else 0
