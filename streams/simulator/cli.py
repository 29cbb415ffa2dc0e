"""``funnelwatch simulate``: argument parsing and the run itself.

Invariants: every bad flag or flag combination is reported as a usage error (exit
code 2) before anything is generated or sent; the ground-truth file lists exactly the
records handed to the producer, in send order. ``--replay`` sends the records of a
ground-truth file instead of generating: in file order, with their own key and value
bytes, to the source topic of their ``topic`` in the current settings' catalogue (not
the file's ``topic_name``); no generation flag is accepted beside it.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from funnelwatch.settings import Settings

from .generator import generate, generate_timed, run_tag
from .ground_truth import GroundTruthWriter, record_from_json
from .incidents import Incident, parse_incident, parse_minutes
from .live import paced
from .model import FORM_TYPES, SimulationConfig, default_campaigns
from .planning import live_start, plan_minutes
from .records import SentRecord

DEFAULT_BATCH_MINUTES = 24 * 60
# --rate pacing sleeps only once this far ahead of schedule (short sleeps overshoot) ...
PACE_SLACK = 0.001
# ... and a sender that fell behind catches up at most this much of it at full speed.
PACE_MAX_LAG = 0.1
T = TypeVar("T", int, float)


class SimulateUsageError(ValueError):
    """A flag combination that cannot run; reported like an argparse error."""


class ReplayFileError(ValueError):
    """A line of the ``--replay`` file that is not a ground-truth record."""


#: Flags that shape generation; a replay sends recorded records, so none applies to it.
GENERATION_FLAGS = frozenset(
    {
        "--mode",
        "--events",
        "--duration",
        "--end",
        "--speed",
        "--seed",
        "--clicks-per-minute",
        "--campaigns",
        "--flat",
        "--spend-reports",
        "--duplicates",
        "--out-of-order",
        "--malformed",
        "--incident",
        "--dry-run",
    }
)
# Namespace attribute holding the tracked flags given on the command line.
_GIVEN = "_simulate_flags_given"


class _Tracked(argparse.Action):
    """Remembers in the namespace that its flag was given, and rejects ``--replay`` beside
    a generation flag in either order, as an argparse error (defaults stay out of it)."""

    def _given(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace) -> None:
        flag = self.option_strings[0]
        given: set[str] = getattr(namespace, _GIVEN, set())
        given.add(flag)
        setattr(namespace, _GIVEN, given)
        if "--replay" in given and (conflicts := sorted(given & GENERATION_FLAGS)):
            parser.error(
                f"argument --replay: not allowed with {', '.join(conflicts)} (a replay sends "
                "the file's records as recorded; generation flags do not apply)"
            )


class _Store(_Tracked):
    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        setattr(namespace, self.dest, values)
        self._given(parser, namespace)


class _Append(_Tracked):
    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        setattr(namespace, self.dest, [*(getattr(namespace, self.dest, None) or []), values])
        self._given(parser, namespace)


class _StoreTrue(_Tracked):
    def __init__(
        self, option_strings: list[str], dest: str, default: bool = False, help: str | None = None
    ) -> None:
        super().__init__(option_strings, dest, nargs=0, default=default, help=help)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        setattr(namespace, self.dest, True)
        self._given(parser, namespace)


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
        action=_Store,
        choices=("batch", "live"),
        default="batch",
        help="batch: a historical range ending now (or --end), sent as fast as possible; "
        "live: event times follow the wall clock (default: batch)",
    )
    add(
        "--events",
        action=_Store,
        type=_positive_int,
        metavar="N",
        help="stop after N records sent (duplicates and malformed included); in batch mode "
        "without --duration the range is sized to hold N",
    )
    add(
        "--duration",
        action=_Store,
        type=_duration,
        metavar="DUR",
        help="simulated time span: minutes (90) or with a unit (90m, 6h, 3d); "
        f"batch default: {DEFAULT_BATCH_MINUTES // 60}h unless --events; "
        "live default: until interrupted",
    )
    add(
        "--end",
        action=_Store,
        type=_moment,
        metavar="TIME",
        help="batch mode: end of the simulated range, ISO 8601, not in the future (default: now)",
    )
    add(
        "--speed",
        action=_Store,
        type=_positive_float,
        default=1.0,
        help="live mode: simulated minutes per wall-clock minute (default: 1)",
    )
    add(
        "--seed",
        action=_Store,
        type=int,
        default=42,
        help="random seed; same seed and range, same records",
    )
    add(
        "--clicks-per-minute",
        action=_Store,
        type=_positive_float,
        default=100.0,
        metavar="RATE",
        help="clicks per minute at the weekday peak (default: 100)",
    )
    add(
        "--campaigns",
        action=_Store,
        type=_positive_int,
        default=8,
        metavar="N",
        help="number of campaigns (default: 8)",
    )
    add("--flat", action=_StoreTrue, help="no diurnal or weekly rhythm: constant rate")
    add(
        "--spend-reports",
        action=_StoreTrue,
        help="also send the ad platforms' spend reports (ad_spend): hourly or daily, late, "
        "restated and sometimes out of order",
    )
    add(
        "--duplicates",
        action=_Store,
        type=_rate,
        default=0.01,
        metavar="RATE",
        help="share of records re-sent as exact duplicates (default: 0.01)",
    )
    add(
        "--out-of-order",
        action=_Store,
        type=_rate,
        default=0.02,
        metavar="RATE",
        help="share of leads with CRM events whose form is sent after their first CRM "
        "event (default: 0.02)",
    )
    add(
        "--malformed",
        action=_Store,
        type=_rate,
        default=0.005,
        metavar="RATE",
        help="share of malformed records mixed in (default: 0.005)",
    )
    add(
        "--incident",
        action=_Append,
        type=_incident,
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
        action=_StoreTrue,
        help="generate and write the ground truth only; send nothing to Kafka",
    )
    add(
        "--progress-every",
        type=_positive_int,
        default=50_000,
        metavar="N",
        help="print progress every N records (default: 50000)",
    )
    add(
        "--replay",
        action=_Store,
        type=Path,
        metavar="PATH",
        help="send the records of this ground-truth file (see --ground-truth) instead of "
        "generating: in file order, with their own keys and values, to the source topics "
        "of the current topic prefix; no generation flag applies",
    )
    add(
        "--rate",
        type=_positive_float,
        metavar="N",
        help="with --replay: send N records per second, paced smoothly "
        "(default: as fast as possible)",
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
    if args.replay is not None:
        raise SimulateUsageError("--replay sends a file: use build_replay")
    if args.rate is not None:
        raise SimulateUsageError("--rate applies to --replay only")
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
        spend_reports=args.spend_reports,
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


@dataclass(frozen=True)
class ReplayPlan:
    """A validated replay: the ground-truth file and the send rate (None: full speed)."""

    path: Path
    rate: float | None


def build_replay(args: argparse.Namespace) -> ReplayPlan:
    """Check a ``--replay`` run; raise SimulateUsageError. (The parser itself rejects the
    generation flags beside ``--replay``.)"""
    path: Path = args.replay
    if not path.is_file():
        raise SimulateUsageError(f"--replay {path}: no such file")
    if args.ground_truth is not None and args.ground_truth.resolve() == path.resolve():
        raise SimulateUsageError("--ground-truth would overwrite the --replay file it reads")
    return ReplayPlan(path, args.rate)


def replay_records(path: Path) -> Iterator[SentRecord]:
    """The records of a ground-truth file in file order; a line that is not a record
    raises ReplayFileError naming it. The file's ``topic_name`` is ignored: the sender
    routes each record by its ``topic`` (clicks, forms, crm)."""
    with path.open("rb") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                record = record_from_json(line.decode("utf-8"))
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                raise ReplayFileError(
                    f"{path}:{number}: not a ground-truth record ({exc!r})"
                ) from None
            yield record


def rate_paced(
    records: Iterable[SentRecord],
    rate: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[SentRecord]:
    """Release ``rate`` records per second: record n is due ``n / rate`` seconds after the
    first, an absolute schedule (no drift), kept to within PACE_SLACK. A sender that
    falls behind (a slow broker) gets at most PACE_MAX_LAG of the backlog back at full
    speed: the load stays steady rather than bursting to catch up."""
    if rate <= 0:
        raise ValueError("rate must be positive")
    began: float | None = None
    for n, record in enumerate(records):
        now = clock()
        if began is None:
            began = now
        due = began + n / rate
        if due - now > PACE_SLACK:
            while (wait := due - clock()) > 0:  # loop: a sleep may end a hair early
                sleep(wait)
        elif now - due > PACE_MAX_LAG:
            began += now - due - PACE_MAX_LAG
        yield record


def run_simulate(args: argparse.Namespace, settings: Settings) -> int:
    """Run ``funnelwatch simulate``; returns the process exit code."""
    log: Callable[[str], None] = print
    plan: SimulationPlan | None = None
    replay: ReplayPlan | None = None
    try:
        if args.replay is not None:
            replay = build_replay(args)
        else:
            plan = build_plan(args, datetime.now(UTC))
    except SimulateUsageError as exc:
        print(f"funnelwatch simulate: error: {exc}", file=sys.stderr)
        return 2
    from .producer import topic_names

    names = topic_names(settings)
    records: Iterator[SentRecord]
    if replay is not None:
        pace = "as fast as possible" if replay.rate is None else f"{replay.rate:,.0f} records/s"
        log(f"replaying {replay.path} to {', '.join(names.values())}, {pace}")
        records = replay_records(replay.path)
        if replay.rate is not None:
            records = rate_paced(records, replay.rate)
    else:
        assert plan is not None
        cfg = plan.config
        until = cfg.end.isoformat() if cfg.end is not None else "interrupted"
        log(
            f"simulating {args.mode} {cfg.start.isoformat()} .. {until}, seed {cfg.seed}, "
            f"run tag {run_tag(cfg)}, {len(cfg.campaigns)} campaigns"
        )
        records = plan_records(plan)
    tally: Counter[str] = Counter()
    writer = None
    if args.ground_truth is not None:
        writer = GroundTruthWriter(args.ground_truth, names)

    def seen(record: SentRecord) -> None:
        tally[record.topic_key] += 1
        tally["duplicates"] += record.duplicate
        tally["malformed"] += not record.valid
        if writer is not None:
            writer.write(record)

    began = time.monotonic()
    failed = 0
    bad_file = False
    try:
        if args.dry_run:
            for n, record in enumerate(records, 1):
                seen(record)
                if n % args.progress_every == 0:
                    log(f"generated {n} records")
        else:
            from .producer import send_records  # the Kafka client only when sending

            result = send_records(
                records,
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
    except ReplayFileError as exc:  # the records before the bad line were sent
        print(f"funnelwatch simulate: error: {exc}", file=sys.stderr)
        bad_file = True
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
    if plan is not None and args.events is not None and total < args.events and not plan.live:
        log(
            f"note: the range held only {total} of the {args.events} records asked for; "
            "pass a longer --duration or a higher --clicks-per-minute"
        )
    if writer is not None:
        log(f"ground truth: {writer.path} ({writer.count} lines)")
    return 1 if failed or bad_file else 0
