"""The worker's web server serves funnelwatch's views only: Faust's own (table data,
router, statistics, assignment, graph, performance) are off through Faust's settings."""

from __future__ import annotations

from pathlib import Path

from funnelwatch.processors.app import create_pipeline
from funnelwatch.settings import Settings

FAUST_PREFIXES = ("/table", "/router", "/graph", "/stats", "/assignment", "/performance")


def test_only_funnelwatch_views_are_routed(tmp_path: Path) -> None:
    pipeline = create_pipeline(Settings(data_dir=tmp_path, clickhouse_url=f"chdb://{tmp_path}"))
    conf = pipeline.app.conf
    # the public settings this relies on (faust-streaming >= 0.15): a Faust without them
    # fails here instead of serving the views again
    assert not conf.web_tables_enabled and not conf.web_router_enabled
    assert not conf.web_stats_enabled and not conf.web_graph_enabled
    assert not conf.web_metrics_enabled
    web = pipeline.app.web
    web.init_server()
    routes = web.web_app.router.routes()
    paths = {route.resource.canonical for route in routes}
    assert not [p for p in paths if p.startswith(FAUST_PREFIXES)], sorted(paths)
    assert {"/metrics", "/api/campaigns", "/api/openapi.json", "/"} <= paths
