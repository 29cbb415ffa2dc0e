"""Event contracts (Faust records), their JSON Schema, the funnel definition and
the ClickHouse DDL as ordered migrations."""
