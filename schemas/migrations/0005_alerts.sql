-- Alerts raised by the detectors, one row per incident and state change: the row
-- with the highest version is the alert's current state (read with FINAL or
-- argMax(..., version)). Boards draw them as annotations; the API lists the open ones.
-- kind: conversion_drop | stall | cost_anomaly. status: firing | resolved.
-- metric: what was judged, e.g. 'conversion' (from_stage -> to_stage), 'cpc', 'cpl'.
-- segments: JSON array of the "dim=value" segments the incident covers (grouped per
-- campaign, so one incident is one alert). resolved_at is 1970-01-01 while firing.
CREATE TABLE IF NOT EXISTS alerts
(
    alert_id String,
    kind ${label},
    status ${label},
    campaign_id ${label},
    metric ${label},
    from_stage ${label},
    to_stage ${label},
    segments String,
    started_at DateTime,
    fired_at DateTime,
    resolved_at DateTime,
    baseline Float64,
    current Float64,
    leads_lost Float64,
    summary String,
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(fired_at)
ORDER BY (campaign_id, alert_id)
