-- Webhook deliveries the detector service completed: one row per (alert_id, status,
-- target) once the receiver acknowledged it. Read on start, so a restarted worker
-- never sends an alert state to a receiver twice (the idempotency key of a message is
-- alert_id:status). Duplicate rows are harmless (ReplacingMergeTree).
CREATE TABLE IF NOT EXISTS alert_deliveries
(
    alert_id String,
    status ${label},
    target ${label},
    delivered_at DateTime,
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (alert_id, status, target)
