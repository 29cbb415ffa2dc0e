"""Per-minute KPIs and rolling conversions, derived in ClickHouse from the facts.

``recompute`` holds the SQL; ``versions`` the row versions; ``progress`` what is rolled
up to where; ``roller`` the one process of the group that runs the recomputes, fed by
the hot path's rollup notices (one partition: a consumer group elects it, and moves it
to another worker within seconds when it dies).
"""
