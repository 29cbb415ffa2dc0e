"""Traffic rhythm: how busy a given minute is, and seeded random draws used throughout.

Invariants: :func:`traffic_factor` is in (0, 1] and equals 1 only at the weekday peak;
the samplers take an explicit ``random.Random`` (never the global one), so a seeded
generator is reproducible.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right

from .model import Lag

# Share of the peak click rate per hour of day (UTC): B2B traffic peaks late morning
# and early afternoon and is low at night.
HOURLY = (
    0.18,
    0.14,
    0.12,
    0.12,
    0.15,
    0.22,
    0.35,
    0.55,
    0.75,
    0.9,
    0.97,
    1.0,
    0.98,
    0.95,
    0.97,
    0.95,
    0.88,
    0.78,
    0.68,
    0.6,
    0.52,
    0.42,
    0.32,
    0.24,
)
# Monday .. Sunday: weekends are quiet.
WEEKDAY = (1.0, 1.0, 0.98, 0.95, 0.85, 0.5, 0.45)
_MINUTE_MS = 60_000
_EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday


def traffic_factor(minute_ms: int, diurnal: bool = True, weekly: bool = True) -> float:
    """Share of the peak rate at the minute starting at epoch ms ``minute_ms``; the
    hourly profile is interpolated linearly so the rate has no steps at full hours."""
    factor = 1.0
    minute_of_day = (minute_ms // _MINUTE_MS) % 1440
    if diurnal:
        hour, within = divmod(minute_of_day, 60)
        here, there = HOURLY[hour], HOURLY[(hour + 1) % 24]
        factor *= here + (there - here) * within / 60
    if weekly:
        factor *= WEEKDAY[(minute_ms // 86_400_000 + _EPOCH_WEEKDAY) % 7]
    return factor


def poisson(rng: random.Random, lam: float) -> int:
    """A Poisson draw: exact (Knuth) for small means, normal approximation above 30."""
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, product = math.exp(-lam), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k


def lag_ms(rng: random.Random, lag: Lag) -> int:
    """A log-normal delay in ms, clipped to the lag's bounds."""
    minutes = lag.median_minutes * math.exp(rng.gauss(0.0, lag.sigma))
    minutes = min(lag.max_minutes, max(lag.min_minutes, minutes))
    return int(minutes * _MINUTE_MS)


def pick_index(rng: random.Random, cumulative: tuple[float, ...]) -> int:
    """Index drawn with the weights whose running sums are ``cumulative``."""
    return min(bisect_right(cumulative, rng.random() * cumulative[-1]), len(cumulative) - 1)
