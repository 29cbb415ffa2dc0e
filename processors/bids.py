"""Bid recommendations: a bounded, damped bid multiplier per campaign.

The multiplier steers a campaign's cost per result (CPL, or cost per qualified lead)
towards its configured target. Invariants of :func:`recommend`:

- it is pure: the same inputs give the same recommendation (time is an argument);
- an open stall alert always gives ``pause`` at once (a broken form burns budget), and
  the multiplier before the pause is kept, so the campaign resumes where it stood;
- otherwise the multiplier moves by at most ``policy.step`` per change and stays inside
  ``[policy.min_multiplier, policy.max_multiplier]``;
- no flapping: inside the dead band ``target * (1 ± hysteresis)`` it holds; with fewer
  clicks than ``policy.min_clicks`` it holds (too little volume to judge); and two
  changes are at least ``policy.min_change_seconds`` apart;
- with spend but no result yet, the cost per result is at least the whole spend, so
  ``spend / max(results, 1)`` is the (conservative) figure compared with the target.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

Action = Literal["lower", "raise", "hold", "pause"]


@dataclass(frozen=True)
class BidPolicy:
    step: float = 0.1
    min_multiplier: float = 0.5
    max_multiplier: float = 1.5
    hysteresis: float = 0.1
    min_change_seconds: float = 300.0
    min_clicks: int = 50


@dataclass(frozen=True)
class Observation:
    """What a campaign did in the judged window."""

    clicks: int
    results: int
    spend_micros: int
    stalled: bool = False


@dataclass(frozen=True)
class Recommendation:
    campaign_id: str
    multiplier: float
    action: Action
    reason: str
    metric: str
    target_micros: int
    cost_per_result_micros: float | None
    clicks: int
    results: int
    spend_micros: int
    at: float
    #: when the multiplier last changed (epoch seconds; 0: never)
    changed_at: float
    #: the multiplier in force before a pause, resumed when the stall ends
    resume_multiplier: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _round(value: float) -> float:
    # Steps of 0.1 accumulate binary noise (0.7999999); recommendations are read by people.
    return round(value, 4)


def recommend(
    campaign_id: str,
    metric: str,
    target_micros: int,
    observed: Observation,
    previous: Recommendation | None,
    now: float,
    policy: BidPolicy = BidPolicy(),
) -> Recommendation:
    """The next recommendation of ``campaign_id`` given the previous one (None: first)."""
    current = previous.resume_multiplier if previous is not None else 1.0
    changed_at = previous.changed_at if previous is not None else 0.0
    cost: float | None = observed.spend_micros / max(observed.results, 1)
    if observed.results == 0 and observed.spend_micros == 0:
        cost = None  # nothing spent, nothing gained: no cost per result at all

    def out(action: Action, multiplier: float, reason: str, changed: float) -> Recommendation:
        return Recommendation(
            campaign_id=campaign_id,
            multiplier=_round(multiplier),
            action=action,
            reason=reason,
            metric=metric,
            target_micros=target_micros,
            cost_per_result_micros=cost,
            clicks=observed.clicks,
            results=observed.results,
            spend_micros=observed.spend_micros,
            at=now,
            changed_at=changed,
            resume_multiplier=_round(current if action in ("pause", "hold") else multiplier),
        )

    if observed.stalled:
        paused_since = now if previous is None or previous.action != "pause" else changed_at
        return out(
            "pause", 0.0, "a stall alert is open: the campaign pays for traffic that cannot "
            "convert; pause until it resolves", paused_since,
        )  # fmt: skip
    if observed.clicks < policy.min_clicks:
        return out(
            "hold", current,
            f"too little volume to judge: {observed.clicks} clicks < {policy.min_clicks}",
            changed_at,
        )  # fmt: skip
    if cost is None:
        return out("hold", current, "no spend and no results in the window", changed_at)
    label = "CPL" if metric == "cpl" else "cost per qualified lead"
    ratio = cost / target_micros
    shown = f"{label} {cost / 1e6:.2f} vs target {target_micros / 1e6:.2f}"
    if ratio > 1 + policy.hysteresis:
        action: Action = "lower"
        wanted = max(policy.min_multiplier, current - policy.step)
        why = f"{shown}: above target by {100 * (ratio - 1):.0f}%"
    elif ratio < 1 - policy.hysteresis:
        action = "raise"
        wanted = min(policy.max_multiplier, current + policy.step)
        why = f"{shown}: below target by {100 * (1 - ratio):.0f}%, room to buy more"
    else:
        return out("hold", current, f"{shown}: within ±{100 * policy.hysteresis:.0f}%", changed_at)
    if _round(wanted) == _round(current):
        bound = "floor" if action == "lower" else "ceiling"
        return out("hold", current, f"{why}; already at the {bound} {current:g}", changed_at)
    since = now - changed_at
    if changed_at and since < policy.min_change_seconds:
        wait = policy.min_change_seconds - since
        return out("hold", current, f"{why}; next change allowed in {wait:.0f}s", changed_at)
    return out(action, wanted, why, now)
