"""The committed provisioning is what the code builds, and passes Grafana's structural rules."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from itertools import combinations
from pathlib import Path
from typing import Any

import pytest
import yaml
from grafana_foundation_sdk.models.alerting import ContactPoint, NotificationPolicy, Rule
from grafana_foundation_sdk.models.dashboard import Dashboard

from funnelwatch.grafana import build
from funnelwatch.grafana.alerting import RULES, contact_point
from funnelwatch.grafana.boards import BOARDS
from funnelwatch.grafana.pipeline import PANELS

ROOT = Path(__file__).parents[3] / "grafana" / "provisioning"
DASHBOARDS = sorted((ROOT / "dashboards" / "json").glob("*.json"))


def load_yaml(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / name).read_text())
    return data


def datasource_uids() -> set[str]:
    return {d["uid"] for d in load_yaml("datasources/funnelwatch.yaml")["datasources"]}


def walk(value: Any, key: str) -> Iterator[Any]:
    """Every value stored under ``key`` anywhere in a JSON document."""
    if isinstance(value, dict):
        for k, v in value.items():
            if k == key:
                yield v
            yield from walk(v, key)
    elif isinstance(value, list):
        for v in value:
            yield from walk(v, key)


def test_committed_provisioning_is_what_the_code_builds() -> None:
    assert build.check(ROOT) == [], "stale: run `funnelwatch grafana build` and commit"


def test_check_reports_an_edited_and_a_missing_file(tmp_path: Path) -> None:
    build.write(tmp_path)
    (tmp_path / "datasources/funnelwatch.yaml").write_text("edited\n")
    (tmp_path / "alerting/funnelwatch.yaml").unlink()
    (tmp_path / "dashboards/json/old-board.json").write_text("{}\n")

    assert build.check(tmp_path) == [
        "alerting/funnelwatch.yaml",
        "datasources/funnelwatch.yaml",
        "dashboards/json/old-board.json",
    ]


@pytest.mark.parametrize("path", DASHBOARDS, ids=[p.stem for p in DASHBOARDS])
def test_dashboard_json_loads_into_the_sdk_model(path: Path) -> None:
    data = json.loads(path.read_text())
    model = Dashboard.from_json(data)

    assert model.uid == data["uid"] == path.stem
    assert model.title and model.panels is not None
    assert len(model.panels) == len(data["panels"]) > 0
    for panel in data["panels"]:
        assert panel["type"] and panel["title"] and panel["targets"]


def test_three_boards_with_unique_uids_and_titles() -> None:
    boards = [json.loads(p.read_text()) for p in DASHBOARDS]
    assert {b["title"] for b in boards} == {
        "Campaign overview",
        "Campaign drill-down",
        "Pipeline health",
    }
    assert len({b["uid"] for b in boards}) == len(boards)


@pytest.mark.parametrize("path", DASHBOARDS, ids=[p.stem for p in DASHBOARDS])
def test_every_datasource_reference_resolves_to_a_provisioned_datasource(path: Path) -> None:
    refs = list(walk(json.loads(path.read_text()), "datasource"))
    assert refs
    for ref in refs:
        assert ref["uid"] in datasource_uids(), ref


@pytest.mark.parametrize("path", DASHBOARDS, ids=[p.stem for p in DASHBOARDS])
def test_panel_grid_positions_fit_the_grid_and_do_not_overlap(path: Path) -> None:
    boxes = [p["gridPos"] for p in json.loads(path.read_text())["panels"]]
    for box in boxes:
        assert box["x"] >= 0 and box["w"] > 0 and box["x"] + box["w"] <= 24 and box["h"] > 0
    for a, b in combinations(boxes, 2):
        apart = (
            a["x"] + a["w"] <= b["x"]
            or b["x"] + b["w"] <= a["x"]
            or a["y"] + a["h"] <= b["y"]
            or b["y"] + b["h"] <= a["y"]
        )
        assert apart, (a, b)


def test_alert_rules_load_into_the_sdk_model_and_their_references_resolve() -> None:
    alerting = load_yaml("alerting/funnelwatch.yaml")
    rules = [r for g in alerting["groups"] for r in g["rules"]]
    assert len(rules) >= 2
    assert len({r["uid"] for r in rules}) == len(rules)
    for rule in rules:
        model = Rule.from_json(rule)
        assert model.title == rule["title"] and model.condition == "C"
        ref_ids = [q["refId"] for q in rule["data"]]
        assert rule["condition"] in ref_ids
        for query in rule["data"]:
            assert query["datasourceUid"] in datasource_uids() | {"__expr__"}
    assert ContactPoint.from_json(contact_point()).name == "funnelwatch-alertmanager"
    for policy in alerting["policies"]:
        assert NotificationPolicy.from_json(policy).receiver == policy["receiver"]
    receivers = {cp["name"] for cp in alerting["contactPoints"]}
    for policy in alerting["policies"]:
        assert policy["receiver"] in receivers
    uids = [r["uid"] for cp in alerting["contactPoints"] for r in cp["receivers"]]
    assert len(set(uids)) == len(uids)


def test_dashboard_provider_reads_the_folder_the_boards_are_written_to() -> None:
    provider = load_yaml("dashboards/funnelwatch.yaml")["providers"][0]
    path = provider["options"]["path"]
    assert path == f"{build.CONTAINER_PROVISIONING}/{build.DASHBOARDS_DIR}"
    assert (ROOT / build.DASHBOARDS_DIR).is_dir() and DASHBOARDS


def test_clickhouse_datasource_uses_the_native_protocol_and_no_password_in_the_file() -> None:
    (clickhouse,) = [
        d
        for d in load_yaml("datasources/funnelwatch.yaml")["datasources"]
        if d["type"] == "grafana-clickhouse-datasource"
    ]
    assert clickhouse["jsonData"]["protocol"] == "native"
    assert clickhouse["jsonData"]["port"] == 9000
    assert clickhouse["secureJsonData"]["password"] == "$CLICKHOUSE_PASSWORD"


def _exported_metrics() -> dict[str, set[str]]:
    """Metric name -> label names, as the worker's registry exports them."""
    from prometheus_client import REGISTRY

    import funnelwatch.processors.metrics  # noqa: F401  (registers the metrics)

    names: dict[str, set[str]] = {}
    for collector in list(REGISTRY._collector_to_names):  # the registry's own index
        labels = set(getattr(collector, "_labelnames", ()))
        for name in REGISTRY._collector_to_names[collector]:
            names[name] = labels | ({"le"} if name.endswith("_bucket") else set())
    # exported by the worker's lag probe (a parallel change); its labels are fixed here
    names.setdefault("funnelwatch_consumer_lag", {"topic", "partition"})
    return names


@pytest.mark.parametrize("title", [p[0] for p in PANELS])
def test_pipeline_panel_queries_name_exported_metrics_and_their_labels(title: str) -> None:
    exported = _exported_metrics()
    (exprs,) = [p[1] for p in PANELS if p[0] == title]
    for expr in exprs.values():
        metrics = re.findall(r"funnelwatch_\w+", expr)
        assert metrics
        for metric in metrics:
            assert metric in exported, metric
            for group in re.findall(r"by \(([^)]*)\)", expr):
                for label in (x.strip() for x in group.split(",")):
                    assert label in exported[metric], (metric, label)


def test_every_clickhouse_query_in_the_provisioning_is_one_the_query_tests_run() -> None:
    """The query tests run the queries of the board definitions; this ties them to the
    committed JSON and YAML, so no SQL reaches Grafana untested."""
    tested = {q.query.build().to_json()["rawSql"] for b in BOARDS for q in b.clickhouse_queries()}
    tested |= {r.query.build().to_json()["rawSql"] for r in RULES}
    in_files = [sql for path in DASHBOARDS for sql in walk(json.loads(path.read_text()), "rawSql")]
    in_files += list(walk(load_yaml("alerting/funnelwatch.yaml"), "rawSql"))
    assert len(in_files) == len(set(in_files)) >= 20
    assert set(in_files) == tested
