-- CRM records whose pipeline/stage the CRM mapping (FUNNELWATCH_CRM_MAPPING_FILE) does
-- not know: kept, never dropped, with their normalised form (contact hashes only, never
-- a raw e-mail or phone) so they can be produced once mapped; listed by
-- `funnelwatch crm unmapped`. A record delivered again writes the same key, which
-- ReplacingMergeTree folds; counts are uniqExact(event_id), right before the merge too.
CREATE TABLE IF NOT EXISTS crm_unmapped
(
    provider ${label},
    pipeline String,
    stage String,
    event_id String,
    object_id String,
    event_time DateTime,
    received_at DateTime,
    record String
)
ENGINE = ReplacingMergeTree
ORDER BY (provider, pipeline, stage, event_id)
