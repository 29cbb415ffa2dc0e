"""Grafana boards and alert rules as code (installed as ``funnelwatch.grafana``).

Invariants:
- the dashboards, data sources and alert rules are defined once, in Python, with
  Grafana's own models (grafana-foundation-sdk); the JSON and YAML under
  ``grafana/provisioning`` are generated from them by ``funnelwatch grafana build``
  and a test fails when the committed files differ from what the code builds;
- every ClickHouse query carries the columns (name and kind) its panel expects, so
  tests can run each one, macros expanded, against both ClickHouse backends;
- queries use the ClickHouse plugin's macros only in forms whose expansion runs on
  ClickHouse 18.16 too (``$__timeFilter``, ``$__fromTime``, ``$__toTime``,
  ``$__interval_s``; never ``$__timeInterval``, which expands to toStartOfInterval).
"""
