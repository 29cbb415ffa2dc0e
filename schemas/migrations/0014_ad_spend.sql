-- Spend reports of the ad platforms (ad_spend events), one row per report as sent.
-- A platform restates a period for days: every report is kept, and readers take, per
-- (platform, account, campaign, ad group, ad, period), the one with the highest
-- (reported_at_ms, event_id) with argMax (see processors/spend). A report read again
-- after a crash writes the same key, which ReplacingMergeTree folds; until the merge
-- the copies are equal, so argMax picks the same figures.
CREATE TABLE IF NOT EXISTS ad_spend
(
    campaign_id ${label},
    platform ${label},
    account_id String,
    ad_group_id String,
    ad_id String,
    period_start DateTime,
    period_seconds UInt32,
    reported_at_ms UInt64,
    event_id String,
    spend_micros Int64,
    currency ${label},
    clicks UInt64,
    impressions UInt64,
    source_topic String,
    source_partition UInt16,
    source_offset UInt64
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(period_start)
ORDER BY (campaign_id, platform, account_id, ad_group_id, ad_id, period_start, period_seconds,
          reported_at_ms, event_id)
