-- Which lead store last took each lead partition (its id, written before the store's
-- first write for that partition). A worker whose own store was the last owner and
-- whose store reflects exactly the group's committed offsets keeps its local state;
-- any other worker first rebuilds the partition's state from lead_facts.
CREATE TABLE IF NOT EXISTS lead_partition_owners
(
    lead_partition UInt16,
    owner String,
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY lead_partition
