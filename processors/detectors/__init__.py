"""Detectors: pure, clock-free logic that turns per-minute counts into alert transitions.

Nothing here reads ClickHouse, Kafka or the wall clock: the detector service
(:mod:`funnelwatch.processors.alerting.service`) feeds closed minutes in minute order,
and the benchmark feeds simulated ones the same way. Same input, same alerts.
"""

from __future__ import annotations

from .bank import DetectorBank, Observation
from .config import DetectorConfig
from .lifecycle import Alert, AlertTracker

__all__ = ["Alert", "AlertTracker", "DetectorBank", "DetectorConfig", "Observation"]
