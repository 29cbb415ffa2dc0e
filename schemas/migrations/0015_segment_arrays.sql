-- Segments as configuration: a fact names the dimensions it is counted under
-- (dim_names) with its value of each (dim_values), in place of the fixed channel,
-- ad_group_id, device and geo columns, which new facts leave empty. The join tables
-- carry the same arrays; their views are replaced by ones that copy them (and the old
-- columns: ClickHouse 18.16 wants every column of a view's target). Workers
-- migrate before they write, so no fact arrives while both views exist; stop workers
-- of an older version before upgrading (they would still write the old columns).
ALTER TABLE funnel_facts ADD COLUMN dim_names Array(String);
ALTER TABLE funnel_facts ADD COLUMN dim_values Array(String);
ALTER TABLE click_index ADD COLUMN dim_names Array(String);
ALTER TABLE click_index ADD COLUMN dim_values Array(String);
ALTER TABLE lead_facts ADD COLUMN dim_names Array(String);
ALTER TABLE lead_facts ADD COLUMN dim_values Array(String);

CREATE MATERIALIZED VIEW IF NOT EXISTS click_index_segments_mv TO click_index AS
SELECT click_id, minute, campaign_id, channel, ad_group_id, device, geo, dim_names, dim_values
FROM funnel_facts
WHERE lead_id = '';

DROP TABLE IF EXISTS click_index_mv;

CREATE MATERIALIZED VIEW IF NOT EXISTS lead_facts_segments_mv TO lead_facts AS
SELECT lead_partition, lead_id, stage, event_id, minute, event_time_ms, campaign_id,
       channel, ad_group_id, device, geo, dim_names, dim_values, attribution, click_id, revenue_micros, counted,
       version, source_topic, source_partition, source_offset
FROM funnel_facts
WHERE lead_id != '';

DROP TABLE IF EXISTS lead_facts_mv
