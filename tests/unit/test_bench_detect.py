"""A tiny scenario of the detection benchmark: the simulator's broken form is alerted."""

from __future__ import annotations

from benchmarks.detect import run_incident
from funnelwatch.processors.detectors import DetectorConfig


def test_benchmark_detects_a_broken_form_and_resolves_it_after_recovery() -> None:
    outcome = run_incident(DetectorConfig(), 1000, "form_broken", 30.0)
    assert outcome.clicks_to_alert is not None and outcome.clicks_to_alert < 400
    assert outcome.minutes_to_resolve is not None and outcome.minutes_to_resolve <= 30
    assert outcome.false_alarms == 0 and outcome.extra_alerts == 0
