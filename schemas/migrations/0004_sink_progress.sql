-- What the sink has made durable: the newest event minute seen (watermark), the
-- minute rolling conversions are computed up to, and the earliest minute whose
-- per-minute KPIs changed since the last roll (0: none). Read on start so a
-- restarted sink continues exactly where the last acknowledged write ended.
CREATE TABLE IF NOT EXISTS sink_progress
(
    name String,
    watermark UInt32,
    rolled_until UInt32,
    dirty_from UInt32,
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY name
