"""Cost anomalies: CPC or CPL of a campaign rising abnormally.

Costs are judged per closed window (``cost_window_minutes``, an hour by default) on
the log of the ratio (cost per click, cost per lead), against the trailing windows
of the same hour of day — so the daily rhythm of prices never looks like an
anomaly — falling back to all trailing windows while fewer than five same-hour ones
exist. The score is a robust z: (x - median) / (1.4826 MAD), with the spread floored
at 0.05 (5%) so a very steady history does not turn cents into alarms. It fires when
z reaches ``cost_z`` and the rise is at least ``cost_min_rise``; it resolves on the
first judged window back under half of both. Windows with fewer than
``cost_min_clicks`` clicks (``cost_min_leads`` leads for CPL) are not judged: a CPL of
three leads is noise. Windows judged while firing do not enter the history.
"""

from __future__ import annotations

import math
import statistics
from collections import deque

from .config import DetectorConfig
from .conversion import Signal

MIN_SPREAD = 0.05
MIN_SAME_HOUR = 5
MIN_ANY_HOUR = 24


class CostMonitor:
    def __init__(self, config: DetectorConfig, metric: str) -> None:
        self.c = config
        self.metric = metric
        self.width = config.cost_window_minutes * 60
        self.min_count = config.cost_min_clicks if metric == "cpc" else config.cost_min_leads
        per_day = max(1, 86_400 // self.width)
        self.same_hour: dict[int, deque[float]] = {}
        self.any_hour: deque[float] = deque(maxlen=per_day * config.cost_history_days)
        self.bin: int | None = None
        self.cost = 0
        self.count = 0
        self.firing = False
        self.onset = 0
        self.reference = 0.0
        self.fired_at = 0
        self.last = 0.0

    def observe(self, minute: int, cost_micros: int, count: int) -> list[Signal]:
        index = minute // self.width
        out: list[Signal] = []
        if self.bin is not None and index != self.bin:
            out = self._close(self.bin * self.width, minute)
            self.cost = self.count = 0
        self.bin = index
        self.cost += cost_micros
        self.count += count
        return out

    def _close(self, start: int, now: int) -> list[Signal]:
        if self.count < self.min_count or self.cost <= 0:
            return []
        x = math.log(self.cost / self.count)
        hour = (start // 3600) % 24
        same = self.same_hour.setdefault(hour, deque(maxlen=self.c.cost_history_days))
        history = same if len(same) >= MIN_SAME_HOUR else self.any_hour
        out: list[Signal] = []
        if len(history) >= min(MIN_SAME_HOUR, MIN_ANY_HOUR) and (
            history is same or len(history) >= MIN_ANY_HOUR
        ):
            med = statistics.median(history)
            mad = statistics.median(abs(v - med) for v in history)
            z = (x - med) / max(1.4826 * mad, MIN_SPREAD)
            rise = math.exp(x - med) - 1.0
            if not self.firing and z >= self.c.cost_z and rise >= self.c.cost_min_rise:
                self.firing, self.onset, self.reference = True, start, med
                self.fired_at, self.last = now, x
                return [Signal("fire", "cost_anomaly", now, start, math.exp(med), math.exp(x))]
            if self.firing:
                if z < self.c.cost_z / 2 or rise < self.c.cost_min_rise / 2:
                    self.firing = False
                    out = [
                        Signal(
                            "resolve",
                            "cost_anomaly",
                            now,
                            self.onset,
                            math.exp(self.reference),
                            math.exp(x),
                        )
                    ]
                else:
                    return []
        if not self.firing:
            same.append(x)
            self.any_hour.append(x)
        return out
