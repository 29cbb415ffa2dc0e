"""The detector bank: every monitor of every campaign and segment, fed minute by minute.

Invariant: the bank's state depends only on the observations fed, in the order fed;
the service feeds closed minutes in minute order (and cohorts in cohort order), so a
replay of the same history rebuilds the same state — that is how a restarted worker
warms up without emitting anything.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

from .config import DetectorConfig
from .conversion import ConversionMonitor, Signal
from .cost import CostMonitor

ALL = ("all", "all")


@dataclass(frozen=True)
class Observation:
    """One minute of one campaign segment: trials and successes of a stage transition,
    or money for the cost monitors (``from_stage``/``to_stage`` say which)."""

    minute: int
    campaign_id: str
    dim: str
    dim_value: str
    from_stage: str
    to_stage: str
    trials: int
    successes: int
    cost_micros: int = 0


@dataclass(frozen=True)
class Event:
    """A signal of one monitor, with the identity of that monitor."""

    campaign_id: str
    metric: str
    from_stage: str
    to_stage: str
    dim: str
    dim_value: str
    signal: Signal


MonitorKey = tuple[str, str, str, str, str]  # campaign, from, to, dim, dim_value


class DetectorBank:
    def __init__(self, config: DetectorConfig, cost_stages: tuple[str, str] = ("click", "lead")):
        self.config = config
        self.conversion: dict[MonitorKey, ConversionMonitor] = {}
        self.cost: dict[tuple[str, str], CostMonitor] = {}
        self.cost_stages = cost_stages

    def observe(self, obs: Observation) -> list[Event]:
        """Feed one observation; conversion monitors for every segment, cost monitors
        for the campaign as a whole on the first transition (clicks and leads)."""
        key = (obs.campaign_id, obs.from_stage, obs.to_stage, obs.dim, obs.dim_value)
        monitor = self.conversion.get(key)
        if monitor is None:
            monitor = ConversionMonitor(self.config, segment=(obs.dim, obs.dim_value) != ALL)
            self.conversion[key] = monitor
        events = [
            Event(
                obs.campaign_id,
                "conversion",
                obs.from_stage,
                obs.to_stage,
                obs.dim,
                obs.dim_value,
                s,
            )
            for s in monitor.observe(obs.minute, obs.trials, obs.successes)
        ]
        if (obs.dim, obs.dim_value) == ALL and any(e.signal.action == "resolve" for e in events):
            # the campaign as a whole recovered: its incident closes, and segment
            # monitors still in alarm start afresh (a segment still broken fires anew)
            for (campaign, a, b, _, _), m in self.conversion.items():
                if (campaign, a, b) == key[:3] and m.firing is not None:
                    m.release()
        if (obs.dim, obs.dim_value) == ALL and (obs.from_stage, obs.to_stage) == self.cost_stages:
            for metric, count in (("cpc", obs.trials), ("cpl", obs.successes)):
                cost = self.cost.get((obs.campaign_id, metric))
                if cost is None:
                    cost = self.cost[(obs.campaign_id, metric)] = CostMonitor(self.config, metric)
                events += [
                    Event(obs.campaign_id, metric, obs.from_stage, obs.to_stage, "all", "all", s)
                    for s in cost.observe(obs.minute, obs.cost_micros, count)
                ]
        return events

    def firing(self) -> Iterator[Event]:
        """A fire event for every monitor in alarm now (used after a warm-up replay)."""
        for (campaign, a, b, dim, value), m in self.conversion.items():
            if m.firing is not None:
                signal = Signal(
                    "fire", m.firing, m.fired_at, m.onset, m.p0, m.current_rate(), m.leads_lost()
                )
                yield Event(campaign, "conversion", a, b, dim, value, signal)
        for (campaign, metric), c in self.cost.items():
            if c.firing:
                signal = Signal(
                    "fire",
                    "cost_anomaly",
                    c.fired_at,
                    c.onset,
                    math.exp(c.reference),
                    math.exp(c.last),
                )
                yield Event(campaign, metric, *self.cost_stages, "all", "all", signal)

    def leads_lost(self, campaign: str, a: str, b: str, dim: str, value: str) -> float:
        m = self.conversion.get((campaign, a, b, dim, value))
        return m.leads_lost() if m is not None else 0.0
