-- Per-minute KPIs per campaign, segment and stage. A segment is one dimension and
-- its value: ('all','all'), ('channel','google'), ('ad_group','ag-1'), ('device',
-- 'mobile'), ('geo','DE'). The sink rewrites a minute's rows whenever a fact of that
-- minute arrives; read with FINAL or argMax(..., version).
CREATE TABLE IF NOT EXISTS kpi_minute
(
    minute DateTime,
    campaign_id ${label},
    dim ${label},
    dim_value ${label},
    stage ${label},
    events UInt64,
    cost_micros Int64,
    revenue_micros Int64,
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(minute)
ORDER BY (minute, campaign_id, dim, dim_value, stage)
