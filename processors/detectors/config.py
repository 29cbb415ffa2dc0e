"""Thresholds and windows of the detectors, as one frozen value built from settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class DetectorConfig:
    """Every knob of the detectors; see the ``alert_*`` settings for their meaning."""

    drop_delta: float = 0.3
    drop_threshold: float = 5.5
    resolve_threshold: float = 5.0
    stall_alpha: float = 4e-4
    false_alarm_budget_days: float = 120.0
    segment_penalty: float = 20.0
    min_clicks: int = 60
    min_baseline_trials: int = 1000
    min_baseline_successes: float = 100.0
    baseline_half_life_minutes: float = 3 * 1440
    baseline_delay_minutes: int = 60
    cost_window_minutes: int = 60
    cost_z: float = 6.0
    cost_min_rise: float = 0.25
    cost_min_clicks: int = 100
    cost_min_leads: int = 20
    cost_history_days: int = 14
    stage_maturity_minutes: dict[str, int] = field(
        default_factory=lambda: {"contacted": 12 * 60, "qualified": 72 * 60, "won": 30 * 1440}
    )

    @classmethod
    def from_settings(cls, settings: Any) -> DetectorConfig:
        return cls(
            drop_delta=settings.alert_drop_delta,
            drop_threshold=settings.alert_drop_threshold,
            resolve_threshold=settings.alert_resolve_threshold,
            stall_alpha=settings.alert_stall_alpha,
            false_alarm_budget_days=settings.alert_false_alarm_budget_days,
            segment_penalty=settings.alert_segment_penalty,
            min_clicks=settings.alert_min_clicks,
            min_baseline_trials=settings.alert_min_baseline_trials,
            min_baseline_successes=settings.alert_min_baseline_successes,
            baseline_half_life_minutes=settings.alert_baseline_half_life_hours * 60,
            baseline_delay_minutes=settings.alert_baseline_delay_minutes,
            cost_window_minutes=settings.alert_cost_window_minutes,
            cost_z=settings.alert_cost_z,
            cost_min_rise=settings.alert_cost_min_rise,
            cost_min_clicks=settings.alert_cost_min_clicks,
            cost_min_leads=settings.alert_cost_min_leads,
            cost_history_days=settings.alert_cost_history_days,
            stage_maturity_minutes={
                k: int(v * 60) for k, v in settings.alert_stage_maturity_hours.items()
            },
        )
