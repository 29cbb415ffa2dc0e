-- Join state: every fact of a lead (forms and CRM events, every version), ordered by
-- the lead's partition, so the worker taking over a partition reads exactly that
-- partition's leads to rebuild their state (highest version per fact wins). Filled by
-- the materialized view below; partitions older than FUNNELWATCH_LEAD_HORIZON_DAYS are
-- dropped by the worker.
CREATE TABLE IF NOT EXISTS lead_facts
(
    lead_partition UInt16,
    lead_id String,
    stage ${label},
    event_id String,
    minute DateTime,
    event_time_ms UInt64,
    campaign_id ${label},
    channel ${label},
    ad_group_id ${label},
    device ${label},
    geo ${label},
    attribution ${label},
    click_id String,
    revenue_micros Int64,
    counted UInt8,
    version UInt64,
    source_topic String,
    source_partition UInt16,
    source_offset UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(minute)
ORDER BY (lead_partition, lead_id, stage, event_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS lead_facts_mv TO lead_facts AS
SELECT lead_partition, lead_id, stage, event_id, minute, event_time_ms, campaign_id,
       channel, ad_group_id, device, geo, attribution, click_id, revenue_micros, counted,
       version, source_topic, source_partition, source_offset
FROM funnel_facts
WHERE lead_id != ''
