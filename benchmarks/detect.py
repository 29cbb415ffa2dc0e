"""Detection benchmark: labelled scenarios from the simulator, fed straight into the detectors.

No Kafka and no ClickHouse: the simulator's generator (fixed seeds) produces the
records, this script attributes them the way the worker does (click_id, else
utm_campaign), counts them per minute, campaign and segment like ``kpi_minute``, and
feeds closed minutes in order to the same :class:`DetectorBank` and
:class:`AlertTracker` the worker runs. Scenarios:

- ``form_broken``: the simulator's own incident — a campaign's forms stop submitting;
- ``drop30``: every lead of the campaign after the onset is removed with probability
  0.3 (a seeded draw), a 30% relative drop of click→lead;
- ``cpc+60%``: every click's cost after the onset is multiplied by 1.6;
- ``quiet``: 30 simulated days with daily and weekly rhythm, several campaigns of
  very different volume (low-volume segments included), no incident: every alert
  is a false alarm.

Usage: ``python -m benchmarks.detect [--seeds N] [--days D]`` (``make bench-detect``).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from funnelwatch.processors.detectors import (
    Alert,
    AlertTracker,
    DetectorBank,
    DetectorConfig,
    Observation,
)
from funnelwatch.settings import load_settings
from funnelwatch.streams.simulator.generator import generate
from funnelwatch.streams.simulator.incidents import Incident, form_broken
from funnelwatch.streams.simulator.model import Campaign, SimulationConfig, default_campaigns

START = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday
DIMS = ("all", "channel", "ad_group", "device", "geo")
#: organic leads tagged with a campaign's utm add ~6.8% to its attributed leads; this
#: campaign conversion makes the attributed click→lead rate 5.0%
CONVERSION = 0.05 / 1.068


def campaign(name: str, weight: float) -> Campaign:
    base = default_campaigns(4)[3]  # linkedin-abm: 5% template, three ad groups, two forms
    return replace(base, campaign_id=name, weight=weight, conversion_rate=CONVERSION)


@dataclass
class Minute:
    clicks: dict[tuple[str, str, str], int] = field(default_factory=lambda: defaultdict(int))
    leads: dict[tuple[str, str, str], int] = field(default_factory=lambda: defaultdict(int))
    cost: dict[str, int] = field(default_factory=lambda: defaultdict(int))


Mutator = Callable[[str, dict[str, object], random.Random], bool]


def minutes_of(
    config: SimulationConfig, mutate: Mutator | None = None
) -> Iterator[tuple[int, Minute]]:
    """Per-minute counts like kpi_minute, in minute order, for a whole run."""
    clicks: dict[str, tuple[str, ...]] = {}
    channels = {c.campaign_id: c.channel for c in config.campaigns}
    buckets: dict[int, Minute] = defaultdict(Minute)
    rng = random.Random(f"bench:{config.seed}")
    emitted = config.start_ms // 1000 - 60
    for record in generate(config):
        if not record.valid or record.duplicate or record.topic_key == "crm":
            continue
        event = json.loads(record.value)
        if mutate is not None and not mutate(record.topic_key, event, rng):
            continue
        ms = int(datetime.fromisoformat(event["event_time"].replace("Z", "+00:00")).timestamp())
        minute = ms - ms % 60
        seg: tuple[str, ...]
        if record.topic_key == "clicks":
            seg = (
                event["campaign_id"],
                event["channel"],
                event["ad_group_id"],
                event["device"],
                event["geo"],
            )
            clicks[event["click_id"]] = seg
            bucket = buckets[minute]
            for dim, value in zip(DIMS, ("all", *seg[1:]), strict=True):
                bucket.clicks[(seg[0], dim, value)] += 1
            bucket.cost[seg[0]] += event["cost_micros"]
        else:
            seg = clicks.get(event.get("click_id") or "") or ()
            if not seg and event.get("utm_campaign") in channels:
                c = event["utm_campaign"]
                seg = (
                    c,
                    channels[c],
                    event.get("utm_content") or "(unknown)",
                    event["device"],
                    event["geo"],
                )
            if not seg:
                continue
            for dim, value in zip(DIMS, ("all", *seg[1:]), strict=True):
                buckets[minute].leads[(seg[0], dim, value)] += 1
        # the generator is in event-time order up to small lags: minutes older than
        # two hours are closed
        while emitted + 60 < minute - 7200:
            emitted += 60
            yield emitted, buckets.pop(emitted, Minute())
    for m in sorted(buckets):
        if m > emitted:
            yield m, buckets[m]


def feed(bank: DetectorBank, tracker: AlertTracker, minute: int, counts: Minute) -> list[Alert]:
    keys = set(counts.clicks) | set(counts.leads)
    events = []
    for key in sorted(keys):
        cmp, dim, value = key
        obs = Observation(
            minute,
            cmp,
            dim,
            value,
            "click",
            "lead",
            counts.clicks.get(key, 0),
            counts.leads.get(key, 0),
            counts.cost.get(cmp, 0) if dim == "all" else 0,
        )
        events += bank.observe(obs)
    alerts: list[Alert] = tracker.handle(events)
    return alerts


@dataclass
class Outcome:
    clicks_to_alert: int | None
    minutes_to_alert: float | None
    minutes_to_resolve: float | None
    false_alarms: int
    clicks_total: int
    extra_alerts: int = 0


def run_incident(cfg: DetectorConfig, seed: int, scenario: str, cpm: float) -> Outcome:
    """One campaign at a flat rate: warm-up (a day, or 20,000 clicks), then the incident
    (long enough for 4,000 clicks, 1,500 for a broken form), then recovery."""
    warm = max(1440, int(20_000 / cpm))
    onset_minute = warm + random.Random(seed).randrange(0, 360)
    length = max(120, int(1500 / cpm)) if scenario == "form_broken" else max(480, int(4000 / cpm))
    until = onset_minute + length
    incidents: tuple[Incident, ...] = ()
    mutate: Mutator | None = None
    onset = int(START.timestamp()) + onset_minute * 60
    end_ts = int(START.timestamp()) + until * 60

    def in_window(event: dict[str, object]) -> bool:
        t = str(event["event_time"]).replace("Z", "+00:00")
        return onset <= datetime.fromisoformat(t).timestamp() < end_ts

    if scenario == "form_broken":
        incidents = (form_broken("cmp-a", onset_minute, until),)
    elif scenario == "drop30":

        def mutate(topic: str, event: dict[str, object], rng: random.Random) -> bool:
            return topic != "forms" or not in_window(event) or rng.random() >= 0.3

    elif scenario == "cpc+60%":

        def mutate(topic: str, event: dict[str, object], rng: random.Random) -> bool:
            if topic == "clicks" and in_window(event):
                event["cost_micros"] = int(str(event["cost_micros"])) * 16 // 10
            return True

    config = SimulationConfig(
        seed=seed,
        start=START,
        end=START + timedelta(minutes=until + max(600, int(3000 / cpm))),
        campaigns=(campaign("cmp-a", 1.0),),
        clicks_per_minute=cpm,
        diurnal=False,
        weekly=False,
        incidents=incidents,
    )
    if scenario == "cpc+60%":
        # cost windows need a day of history at least: three more days of warm-up
        config = replace(config, start=START - timedelta(days=3))
    bank, tracker = DetectorBank(cfg), AlertTracker()
    clicks_since, fired_at, resolved_at, false_alarms, extra = 0, None, None, 0, 0
    total = 0
    for minute, counts in minutes_of(config, mutate):
        n = counts.clicks.get(("cmp-a", "all", "all"), 0)
        total += n
        if minute >= onset and fired_at is None:
            clicks_since += n
        for alert in feed(bank, tracker, minute, counts):
            if alert.status == "firing":
                if minute < onset:
                    false_alarms += 1
                elif fired_at is None:
                    fired_at = minute
                else:
                    extra += 1
            elif fired_at is not None and resolved_at is None and minute >= end_ts:
                resolved_at = minute
    return Outcome(
        clicks_since if fired_at is not None else None,
        (fired_at - onset) / 60 + 1 if fired_at is not None else None,
        (resolved_at - end_ts) / 60 + 1 if resolved_at is not None else None,
        false_alarms,
        total,
        extra,
    )


def run_quiet(cfg: DetectorConfig, days: int, seed: int) -> dict[str, tuple[int, int, str]]:
    """Days of rhythmic traffic over campaigns of very different volume: every alert is
    false. Returns campaign -> (false alarms, clicks, kinds)."""
    campaigns = (
        campaign("cmp-big", 0.6),
        campaign("cmp-mid", 0.25),
        campaign("cmp-small", 0.1),
        campaign("cmp-tiny", 0.05),
    )
    config = SimulationConfig(
        seed=seed,
        start=START,
        end=START + timedelta(days=days),
        campaigns=campaigns,
        clicks_per_minute=40.0,
    )
    bank, tracker = DetectorBank(cfg), AlertTracker()
    alarms: dict[str, list[str]] = defaultdict(list)
    clicks: dict[str, int] = defaultdict(int)
    for minute, counts in minutes_of(config):
        for c in campaigns:
            clicks[c.campaign_id] += counts.clicks.get((c.campaign_id, "all", "all"), 0)
        for alert in feed(bank, tracker, minute, counts):
            if alert.status == "firing":
                alarms[alert.campaign_id].append(f"{alert.kind}:{','.join(alert.segments)}")
    return {
        c.campaign_id: (
            len(alarms[c.campaign_id]),
            clicks[c.campaign_id],
            " ".join(alarms[c.campaign_id]),
        )
        for c in campaigns
    }


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench-detect", description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10, help="runs per incident scenario")
    parser.add_argument("--days", type=int, default=30, help="simulated days of quiet traffic")
    parser.add_argument("--quiet-seeds", type=int, default=3, help="runs of quiet traffic")
    parser.add_argument(
        "--cpm", type=float, nargs="+", default=[2.0, 30.0], help="campaign clicks per minute"
    )
    parser.add_argument("--only", default="", help="comma list of scenarios to run")
    args = parser.parse_args(argv)
    cfg = DetectorConfig.from_settings(load_settings())
    only = set(filter(None, args.only.split(",")))
    started = time.monotonic()
    print(f"detection at a 5% click→lead baseline, flat traffic, {args.seeds} seeds per row")
    print(
        "| scenario | clicks/min | detected | clicks to alert median / p90 "
        "| minutes to alert median / p90 | resolved after recovery, minutes median / p90 "
        "| extra alerts | false alarms before onset |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for scenario in ("form_broken", "drop30", "cpc+60%"):
        if only and scenario not in only:
            continue
        for cpm in args.cpm:
            outs = [run_incident(cfg, 1000 + s, scenario, cpm) for s in range(args.seeds)]
            hit = [o for o in outs if o.clicks_to_alert is not None]
            clicks = [float(o.clicks_to_alert or 0) for o in hit]
            mins = [o.minutes_to_alert or 0.0 for o in hit]
            rec = [o.minutes_to_resolve for o in hit if o.minutes_to_resolve is not None]
            c = f"{statistics.median(clicks):.0f} / {pct(clicks, 0.9):.0f}" if clicks else "-"
            m = f"{statistics.median(mins):.0f} / {pct(mins, 0.9):.0f}" if mins else "-"
            r = f"{statistics.median(rec):.0f} / {pct(rec, 0.9):.0f}" if rec else "-"
            print(
                f"| {scenario} | {cpm:g} | {len(hit)}/{len(outs)} | {c} | {m} | {r} "
                f"({len(rec)}/{len(hit)}) | {sum(o.extra_alerts for o in outs)} "
                f"| {sum(o.false_alarms for o in outs)} |",
                flush=True,
            )
    if not only or "quiet" in only:
        runs = [run_quiet(cfg, args.days, 7 + i) for i in range(args.quiet_seeds)]
        print()
        print(
            f"false alarms: {args.quiet_seeds} runs of {args.days} simulated days, daily and "
            "weekly rhythm, no incident"
        )
        print(
            f"| campaign | clicks per {args.days} days | false alarms per run "
            f"| per {args.days} days (mean) | per 50,000 clicks | alerts |"
        )
        print("| --- | --- | --- | --- | --- | --- |")
        for name in runs[0]:
            fas = [run[name][0] for run in runs]
            total = sum(run[name][1] for run in runs)
            kinds = " ".join(run[name][2] for run in runs if run[name][2])
            print(
                f"| {name} | {total // len(runs):,} | {', '.join(map(str, fas))} "
                f"| {sum(fas) / len(runs):.2f} | {sum(fas) * 50_000 / max(total, 1):.2f} "
                f"| {kinds or '-'} |"
            )
    print(f"\n(benchmark ran {time.monotonic() - started:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
