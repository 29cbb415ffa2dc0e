-- Join state: every click by click_id, for the forms that name it. Filled by the
-- materialized view below from the click facts (the facts without a lead), so a click
-- is in the index exactly when its fact is durable. Small granules: a lookup reads
-- about one granule per probed id and part. Monthly partitions older than
-- FUNNELWATCH_CLICK_HORIZON_DAYS are dropped by the worker.
CREATE TABLE IF NOT EXISTS click_index
(
    click_id String,
    minute DateTime,
    campaign_id ${label},
    channel ${label},
    ad_group_id ${label},
    device ${label},
    geo ${label}
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(minute)
ORDER BY click_id
SETTINGS index_granularity = 256;

CREATE MATERIALIZED VIEW IF NOT EXISTS click_index_mv TO click_index AS
SELECT click_id, minute, campaign_id, channel, ad_group_id, device, geo
FROM funnel_facts
WHERE lead_id = ''
