"""Conversion monitors: one per (campaign, segment, stage transition).

Model: each trial (a click, or a matured lead of a cohort) converts independently
with rate p0, so the successes of a minute are Poisson(n * p0) to a very good
approximation (p0 is small, and the Poisson form also tolerates a minute with more
leads than clicks, which lagged forms produce).

- Baseline p0: an exponentially weighted rate with a half-life in minutes, fed
  through a delay line so the minutes the CUSUM is judging never pollute the
  baseline they are judged against; while an alarm is open the delay line is
  discarded instead of absorbed (the incident never becomes the new normal).
- Drop: a one-sided CUSUM of the log-likelihood ratio of p1 = (1 - delta) p0 against
  p0, per minute ``k ln(1 - delta) + n p0 delta``. It fires at ``drop_threshold``
  nats; its onset estimate is the minute after the statistic last stood at zero.
  It is the optimal sequential test for a shift of the assumed size (Lorden), needs
  O(1) state and respects binomial noise by construction: a quiet night adds little
  evidence either way.
- Stall: the probability of seeing n trials without a single success, (1 - p0)^n.
  It fires when that falls below ``stall_alpha`` — the CUSUM for p1 = 0, which is
  the fastest test for a total stop (a broken form).
- Budget: on a busy campaign a per-trial error rate is many pages a month, so both
  thresholds are made stricter where the campaign's volume would spend more than
  one expected false alarm per ``false_alarm_budget_days``: the stall's alpha falls
  to 1 / (successes in that period), the drop threshold rises to
  ln(trials in that period * p0 * (-ln(1 - delta) - delta)) (the CUSUM's false-alarm
  rate is about e^-h times that drift per trial).
- Resolution: a reverse CUSUM (evidence for p0 against p1), which must reach
  ``resolve_threshold`` nats; a stall resolves as soon as successes come back.
- The p0 the tests use is the baseline one standard error lower: with few
  successes in the baseline, the tests grow more cautious instead of alarming on
  the baseline's own noise.
- Gates: nothing fires before the baseline holds ``min_baseline_trials`` trials and
  ``min_baseline_successes`` successes, nor with fewer than ``min_clicks`` trials
  since the onset: a 20-click segment never pages. Segment monitors (all but the
  campaign as a whole) use thresholds stricter by ``ln(segment_penalty)``, because a
  campaign has many segments and each is a further chance of a false alarm.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from .config import DetectorConfig

#: a week of minutes: the longest a detector's suspicion holds minutes out of the baseline
MAX_HELD_MINUTES = 7 * 1440


@dataclass(frozen=True)
class Signal:
    """A monitor changed state: ``fire`` (kind stall or conversion_drop) or ``resolve``."""

    action: str
    kind: str
    minute: int
    onset: int
    baseline: float
    current: float
    leads_lost: float = 0.0


class RateBaseline:
    """Exponentially weighted conversion rate, absorbed through a delay line."""

    def __init__(self, half_life_minutes: float, delay_minutes: int) -> None:
        self.decay = 0.5 ** (1.0 / half_life_minutes)
        self.delay = delay_minutes
        self.trials = 0.0
        self.successes = 0.0
        self.pending: deque[tuple[int, int, int]] = deque()
        self.last_minute: int | None = None
        self.span = 0.0  # minutes covered, decayed alike: trials / span is a per-minute rate

    def add(self, minute: int, n: int, k: int, hold_from: int | None = None) -> None:
        """Queue a minute; absorb queued minutes older than the delay, except those
        from ``hold_from`` on (the minutes a detector is currently weighing)."""
        self.pending.append((minute, n, k))
        while self.pending and self.pending[0][0] <= minute - self.delay * 60:
            held = hold_from is not None and self.pending[0][0] >= hold_from
            if held and len(self.pending) < MAX_HELD_MINUTES:
                break
            m, pn, pk = self.pending.popleft()
            self._absorb(m, pn, pk)

    def _absorb(self, minute: int, n: int, k: int) -> None:
        if self.last_minute is not None:
            elapsed = (minute - self.last_minute) // 60
            factor = self.decay**elapsed
            self.trials *= factor
            self.successes *= factor
            # the elapsed minutes (quiet ones without rows included) join the span
            self.span = self.span * factor + (1.0 - factor) / (1.0 - self.decay)
        else:
            self.span = 1.0
        self.last_minute = minute
        self.trials += n
        self.successes += k

    def discard_pending(self) -> None:
        self.pending.clear()

    @property
    def rate(self) -> float:
        return self.successes / self.trials if self.trials > 0 else 0.0

    def per_day(self, value: float) -> float:
        return value / self.span * 1440 if self.span > 0 else 0.0

    @property
    def cautious_rate(self) -> float:
        """The rate one standard error lower (Poisson error of the successes): an
        optimistic baseline would make ordinary minutes look like a drop."""
        if self.successes <= 1:
            return 0.0
        return self.rate * (1.0 - 1.0 / math.sqrt(self.successes))


class ConversionMonitor:
    """Drop and stall detection for one stream of (trials, successes) per minute."""

    def __init__(self, config: DetectorConfig, segment: bool) -> None:
        self.c = config
        self.penalty = penalty = math.log(config.segment_penalty) if segment else 0.0
        self.h = config.drop_threshold + penalty
        self.log_alpha = math.log(config.stall_alpha) - penalty
        # per trial, the CUSUM drifts down by p0 * (-ln(1 - delta) - delta) under p0
        self.drift0 = -math.log(1.0 - config.drop_delta) - config.drop_delta
        self.log_keep = math.log(1.0 - config.drop_delta)
        self.baseline = RateBaseline(
            config.baseline_half_life_minutes, config.baseline_delay_minutes
        )
        self.s = 0.0  # drop CUSUM
        self.s_start: int | None = None  # first minute of the current CUSUM excursion
        self.gap = 0  # trials since the last success
        self.gap_start: int | None = None
        self.firing: str | None = None  # kind of the open alarm
        self.onset = 0
        self.p0 = 0.0  # baseline frozen at the time of firing
        self.r = 0.0  # resolution CUSUM
        self.since_n = 0  # trials and successes since the onset (for leads lost)
        self.since_k = 0
        self.fired_at = 0

    def ready(self) -> bool:
        b = self.baseline
        return b.trials >= self.c.min_baseline_trials and b.successes >= (
            self.c.min_baseline_successes
        )

    def leads_lost(self) -> float:
        return max(0.0, self.p0 * self.since_n - self.since_k) if self.firing else 0.0

    def current_rate(self) -> float:
        return self.since_k / self.since_n if self.since_n else 0.0

    def observe(self, minute: int, n: int, k: int) -> list[Signal]:
        out: list[Signal] = []
        if self.firing is not None:
            self.since_n += n
            self.since_k += k
            out += self._judge_recovery(minute, n, k)
        else:
            held = [m for m in (self.s_start, self.gap_start) if m is not None]
            self.baseline.add(minute, n, k, min(held) if held else None)
            out += self._judge(minute, n, k)
        if self.firing is not None:
            self.baseline.discard_pending()
        return out

    def _judge(self, minute: int, n: int, k: int) -> list[Signal]:
        if not self.ready():
            return []
        p0 = self.baseline.cautious_rate
        if n or k:
            self.s = max(0.0, self.s + k * self.log_keep + n * p0 * self.c.drop_delta)
            if self.s == 0.0:
                self.s_start = None
            elif self.s_start is None:
                self.s_start = minute
        if k > 0:
            # the last success fell somewhere in this minute: on average n/(k+1) of
            # its trials came after it
            self.gap, self.gap_start = n // (k + 1), None
        elif n > 0:
            if self.gap_start is None:
                self.gap_start = minute
            self.gap += n
        # the stall test uses the plain baseline: it only ever fires on a run of zeros
        rate = self.baseline.rate
        log_alpha, h = self._thresholds(p0)
        stalled = self.gap * math.log1p(-rate) < log_alpha if rate < 1 else False
        dropped = self.s >= h
        if not (stalled or dropped):
            return []
        kind = "stall" if stalled else "conversion_drop"
        if stalled:
            p0 = rate
        onset = (self.gap_start if stalled else self.s_start) or minute
        volume = self.gap if stalled else None
        if volume is None:
            volume = self._trials_since(onset)
        if volume < self.c.min_clicks:
            return []
        self.firing, self.onset, self.p0, self.fired_at = kind, onset, p0, minute
        self.since_n, self.since_k = self._since_onset(onset)
        self.r = 0.0
        return [Signal("fire", kind, minute, onset, p0, self.current_rate(), self.leads_lost())]

    def _thresholds(self, p0: float) -> tuple[float, float]:
        """Stall log-alpha and drop threshold: the configured ones, made stricter where
        the campaign's volume would otherwise spend more than one expected false
        alarm per ``false_alarm_budget_days`` (a busy campaign has more chances)."""
        log_alpha, h = self.log_alpha, self.h
        days = self.c.false_alarm_budget_days
        if days > 0:
            b = self.baseline
            gaps = b.per_day(b.successes) * days  # stall: one chance per success
            if gaps > 1:
                log_alpha = min(log_alpha, -math.log(gaps) - self.penalty)
            excursions = b.per_day(b.trials) * days * p0 * self.drift0
            if excursions > 1:
                h = max(h, math.log(excursions) + self.penalty)
        return log_alpha, h

    def _judge_recovery(self, minute: int, n: int, k: int) -> list[Signal]:
        # evidence for the baseline rate against the dropped one
        self.r = max(0.0, self.r - k * self.log_keep - n * self.p0 * self.c.drop_delta)
        stall_over = self.firing == "stall" and k > 0 and self.r > 0
        if self.r >= self.c.resolve_threshold or stall_over:
            signal = Signal(
                "resolve",
                self.firing or "",
                minute,
                self.onset,
                self.p0,
                self.current_rate(),
                self.leads_lost(),
            )
            self.release()
            return [signal]
        return []

    def release(self) -> None:
        """Back to judging from scratch (the alarm, if any, is dropped silently)."""
        self.firing = None
        self.s, self.s_start, self.gap, self.gap_start, self.r = 0.0, None, 0, None, 0.0
        self.since_n = self.since_k = 0

    # Trials and successes since the onset come from the baseline's delay line,
    # which holds the recent minutes not yet absorbed (the delay exceeds any onset
    # the detectors report in practice; older minutes count as nothing).
    def _since_onset(self, onset: int) -> tuple[int, int]:
        n = k = 0
        for m, pn, pk in self.baseline.pending:
            if m >= onset:
                n += pn
                k += pk
        return n, k

    def _trials_since(self, onset: int) -> int:
        return self._since_onset(onset)[0]
