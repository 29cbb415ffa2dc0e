-- Rolling stage conversions: for each minute t, window w and stage transition
-- from -> to, the facts of each stage in (t - w, t]. conversion = to_events / from_events.
-- Rows are rewritten as facts arrive; read with FINAL or argMax(..., version).
CREATE TABLE IF NOT EXISTS conversion_rolling
(
    minute DateTime,
    campaign_id ${label},
    dim ${label},
    dim_value ${label},
    window_minutes UInt16,
    from_stage ${label},
    to_stage ${label},
    from_events UInt64,
    to_events UInt64,
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(minute)
ORDER BY (window_minutes, campaign_id, dim, dim_value, from_stage, minute)
