"""Volume planning: how much simulated time a requested number of records needs, and
where a run's simulated clock starts.

Invariants:
- :func:`plan_minutes` sizes the range a little large (by ``MARGIN``), so a batch run asked
  for N records reaches N (the generator stops there) shortly before the end: about
  the last 2% of the range's traffic is left out;
- :func:`live_start` puts the simulated start far enough in the past that a run
  compressed by ``speed`` never stamps an event later than the wall clock.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from datetime import datetime, timedelta
from functools import lru_cache

from .generator import SITE_QUALITY, UTM_KNOWN
from .model import SITE_FORMS, Campaign, Form, Lifecycle, SimulationConfig, to_ms
from .rhythm import lag_ms, traffic_factor

MARGIN = 1.02  # Poisson noise: better a few records short of the end than of N
_MAX_MINUTES = 366 * 1440
_SAMPLES = 4000
_MINUTE_MS = 60_000


@lru_cache(maxsize=8)
def _stage_delays(lc: Lifecycle) -> tuple[tuple[float, ...], ...]:
    """Sorted sample delays (minutes after the click) of: the form, contacted, qualified,
    closed after qualified, lost after contacted without qualification."""
    rng = random.Random(0)  # fixed: planning must be deterministic too
    chains = (
        (lc.form_lag,),
        (lc.form_lag, lc.contact_lag),
        (lc.form_lag, lc.contact_lag, lc.qualify_lag),
        (lc.form_lag, lc.contact_lag, lc.qualify_lag, lc.close_lag),
        (lc.form_lag, lc.contact_lag, lc.close_lag),
    )
    return tuple(
        tuple(sorted(sum(lag_ms(rng, lag) for lag in chain) / _MINUTE_MS for _ in range(_SAMPLES)))
        for chain in chains
    )


def _records_per_lead(
    lc: Lifecycle, form_type: str, quality: float, shares: tuple[float, ...], stopped: bool
) -> float:
    """The form plus the CRM events it is expected to bring (none if sales stopped)."""
    form, contacted, qualified, closed_share, lost_share = shares
    if stopped:
        return form
    contact = lc.prob(lc.contact_prob, form_type)
    qualify = min(0.95, lc.prob(lc.qualify_prob, form_type) * quality)
    win = min(0.9, lc.win_prob * quality)
    closed = win + (1 - win) * lc.lose_prob_qualified
    unqualified_lost = (1 - qualify) * lc.lose_prob_unqualified
    return form + contact * (
        contacted + qualify * (qualified + closed * closed_share) + unqualified_lost * lost_share
    )


def _mean_per_lead(
    lc: Lifecycle,
    forms: tuple[Form, ...],
    quality: float,
    shares: tuple[float, ...],
    stopped: frozenset[str],
) -> float:
    total = sum(f.weight for f in forms)
    return (
        sum(
            f.weight * _records_per_lead(lc, f.form_type, quality, shares, f.form_type in stopped)
            for f in forms
        )
        / total
    )


def expected_records_per_click(
    config: SimulationConfig,
    shares: tuple[float, ...] = (1.0,) * 5,
    broken: frozenset[str] = frozenset(),
    stopped: frozenset[str] = frozenset(),
) -> float:
    """Records per click, all included: the click, leads (with and without click), their
    CRM events (each stage's ``shares`` of them happen inside the range), duplicates
    and malformed records; ``broken`` campaigns bring no lead, ``stopped`` form types
    no CRM event (the incidents active at the time)."""
    lc, total_weight = config.lifecycle, sum(c.weight for c in config.campaigns)

    def per_lead(c: Campaign, lead_shares: tuple[float, ...]) -> float:
        if c.campaign_id in broken:
            return 0.0
        return _mean_per_lead(lc, c.forms, c.quality, lead_shares, stopped)

    paid = sum(c.weight * c.conversion_rate * per_lead(c, shares) for c in config.campaigns)
    # Leads without click are not delayed after a click: their form always counts.
    unclicked = (1.0, *shares[1:])
    tagged = sum(c.weight * per_lead(c, unclicked) for c in config.campaigns) / total_weight
    untagged = _mean_per_lead(lc, SITE_FORMS, SITE_QUALITY, unclicked, stopped)
    share = config.organic_lead_share
    organic_leads = config.mean_conversion_rate() * share / (1 - share)
    organic = organic_leads * (UTM_KNOWN * tagged + (1 - UTM_KNOWN) * untagged)
    clean = 1 + paid / total_weight + organic
    return clean * (1 + config.duplicate_rate) * (1 + config.malformed_rate)


def _walk_back(config: SimulationConfig, records: int, end_ms: int, start_ms: int | None) -> int:
    """Minutes back from ``end_ms`` until the expected records reach the target, with
    the incidents placed as if the range started at ``start_ms`` (None: no incidents)."""
    delays = _stage_delays(config.lifecycle)
    stages = len(delays)
    # Records per click are linear in the stage shares: precompute the coefficients,
    # once per combination of active incidents.
    linear: dict[tuple[frozenset[str], frozenset[str]], tuple[float, list[float]]] = {}

    def coefficients(key: tuple[frozenset[str], frozenset[str]]) -> tuple[float, list[float]]:
        if key not in linear:
            base = expected_records_per_click(config, (0.0,) * stages, *key)
            units = [tuple(float(i == k) for i in range(stages)) for k in range(stages)]
            linear[key] = (
                base,
                [expected_records_per_click(config, u, *key) - base for u in units],
            )
        return linear[key]

    # Relative margin for the model's bias, plus an absolute one for its noise, which
    # dominates small runs (records come in lumps: a lead brings its CRM lifecycle).
    target, expected, minutes = MARGIN * records + 10 * math.sqrt(records), 0.0, 0
    while expected < target and minutes < _MAX_MINUTES:
        minutes += 1
        minute_ms = end_ms - minutes * _MINUTE_MS
        active = (
            []
            if start_ms is None
            else [i for i in config.incidents if i.active((minute_ms - start_ms) // _MINUTE_MS)]
        )
        key = (
            frozenset(i.target for i in active if i.kind == "form_broken"),
            frozenset(i.target for i in active if i.kind == "sales_stop"),
        )
        base, slopes = coefficients(key)
        age = minutes - 0.5  # from the middle of this minute to the end
        per_click = base + sum(
            c * bisect_right(d, age) / len(d) for c, d in zip(slopes, delays, strict=True)
        )
        factor = traffic_factor(minute_ms, config.diurnal, config.weekly)
        expected += config.clicks_per_minute * factor * per_click
    return minutes


def plan_minutes(config: SimulationConfig, records: int, end: datetime) -> int:
    """Minutes of simulated time ending at ``end`` that hold about ``records`` records
    (plus the margin), for ``config``'s rates, rhythm and incidents.

    Walks back from the end a minute at a time, adding the records expected from that
    minute's clicks: its rhythm factor times the records per click, counting only the
    CRM stages old enough to have happened by the end (a lead of the last hour has
    rarely been qualified yet) and leaving out what the incidents active then suppress.
    Incidents are timed from the start, which depends on the range: iterate.
    """
    end_ms = to_ms(end)
    minutes = _walk_back(config, records, end_ms, None)
    for _ in range(10):
        if not config.incidents:
            break
        longer = _walk_back(config, records, end_ms, end_ms - minutes * _MINUTE_MS)
        if longer == minutes:
            break
        minutes = longer
    return minutes


def live_start(now: datetime, minutes: int | None, speed: float) -> datetime:
    """Simulated start of a live run of ``minutes`` simulated minutes at ``speed``.

    At speed 1 (or slower) that is now. Faster, the simulated clock gains
    ``minutes * (1 - 1/speed)`` on the wall clock over the run, so it starts that far in
    the past and reaches the wall clock exactly at the end: no event time is ever ahead.
    """
    if speed <= 1.0:
        return now
    if minutes is None:
        raise ValueError("a live run faster than real time needs a duration")
    return now - timedelta(minutes=minutes * (1.0 - 1.0 / speed))
