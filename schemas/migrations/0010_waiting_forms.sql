-- Join state: forms that named a click not seen yet. The lead's owner writes a row
-- before it looks the click up a second time, and whoever writes a click looks here
-- after writing it, so of two workers racing on one click, at least one sees the other
-- (the form is then attributed to the click through its lead's partition). Monthly
-- partitions older than FUNNELWATCH_CLICK_HORIZON_DAYS are dropped by the worker.
CREATE TABLE IF NOT EXISTS waiting_forms
(
    click_id String,
    event_id String,
    lead_id String,
    lead_partition UInt16,
    minute DateTime
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(minute)
ORDER BY (click_id, event_id)
