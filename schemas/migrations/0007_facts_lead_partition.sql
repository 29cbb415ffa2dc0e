-- The partition of the lead's key (its owner in the hot path's consumer group; 0 for
-- clicks). A worker that takes over a partition restores that partition's join state
-- from the lead facts carrying it (lead_facts, next migrations).
ALTER TABLE funnel_facts ADD COLUMN lead_partition UInt16 DEFAULT 0
