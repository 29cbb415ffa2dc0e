-- What the sink has made durable: the latest event minute seen (watermark) and the
-- minute up to which rolling conversions are computed. Read on start and on every
-- flush so a restarted sink continues exactly where the last acknowledged write ended.
CREATE TABLE IF NOT EXISTS sink_progress
(
    name String,
    watermark UInt32,
    rolled_until UInt32,
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY name
