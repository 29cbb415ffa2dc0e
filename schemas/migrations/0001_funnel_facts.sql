-- One row per valid event, as attributed. The pipeline may write a row again
-- (replays, re-attribution when a late parent arrives); the row with the highest
-- version wins, so readers aggregate with argMax(..., version), never plain sums.
-- `counted` picks one event per (entity, stage): the earliest form of a lead, the
-- earliest CRM event of a lead for each stage; every click counts.
CREATE TABLE IF NOT EXISTS funnel_facts
(
    minute DateTime,
    stage String,
    event_id String,
    event_time_ms UInt64,
    campaign_id ${label},
    channel ${label},
    ad_group_id ${label},
    device ${label},
    geo ${label},
    attribution ${label},
    lead_id String,
    click_id String,
    cost_micros Int64,
    revenue_micros Int64,
    counted UInt8,
    version UInt64,
    source_topic String,
    source_partition UInt16,
    source_offset UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(minute)
ORDER BY (minute, stage, event_id)
