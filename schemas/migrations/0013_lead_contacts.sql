-- Contact linking: the salted hashes of the e-mail and phone each form carried
-- (never the raw values), so a CRM record without a lead id finds its lead. Written by
-- the lead's owner in the checkpoint of the form's batch (before its offsets commit);
-- a replayed form writes the same row again, which ReplacingMergeTree folds, keeping
-- the latest event time per (hash, lead). Sorted by hash: a lookup reads about one
-- granule per probed hash and part. Monthly partitions older than
-- FUNNELWATCH_LEAD_HORIZON_DAYS are dropped by the worker with the lead facts.
CREATE TABLE IF NOT EXISTS lead_contacts
(
    contact_hash String,
    lead_id String,
    lead_partition UInt16,
    event_id String,
    minute DateTime,
    event_time_ms UInt64
)
ENGINE = ReplacingMergeTree(event_time_ms)
PARTITION BY toYYYYMM(minute)
ORDER BY (contact_hash, lead_id)
SETTINGS index_granularity = 256
