"""The local Prometheus and Alertmanager start ready on free ports, answer their APIs,
and stop without leaving anything listening; a broken config fails the start loudly."""

from __future__ import annotations

from pathlib import Path

import pytest

from funnelwatch.localstack.ports import is_listening
from funnelwatch.localstack.prometheus import (
    LocalAlertmanager,
    LocalMonitoringError,
    LocalPrometheus,
    http_json,
)

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
ALERTMANAGER_YML = ROOT / "monitoring" / "alertmanager" / "alertmanager.yml"
RULES = sorted((ROOT / "monitoring" / "prometheus" / "rules").glob("*.yml"))


def test_prometheus_and_alertmanager_start_ready_load_the_shipped_files_and_stop() -> None:
    am = LocalAlertmanager(ALERTMANAGER_YML, "http://127.0.0.1:9/hook")
    prometheus = LocalPrometheus(["127.0.0.1:9"], RULES, [])
    homes = (am.home, prometheus.home)
    try:
        am.start()
        prometheus.alertmanagers = [am.address]
        prometheus.start()
        assert am.alerts() == []
        rules = http_json(f"{prometheus.url}/api/v1/rules")["data"]["groups"]
        groups = {g["name"] for g in rules}
        assert groups == {"funnelwatch-pipeline", "funnelwatch-funnel"}
        assert (am.home / "prometheus-alertmanager.pid").exists()
    finally:
        prometheus.stop()
        am.stop()
    assert not is_listening("127.0.0.1", prometheus.port)
    assert not is_listening("127.0.0.1", am.port)
    assert not any(home.exists() for home in homes)  # temporary homes are removed


def test_a_rule_file_prometheus_rejects_fails_the_start_with_its_log(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("groups:\n  - name: x\n    rules:\n      - alert: X\n        expr: up ==\n")
    prometheus = LocalPrometheus(["127.0.0.1:9"], [bad], home=tmp_path / "prom")
    with pytest.raises(LocalMonitoringError, match="exited"):
        prometheus.start()
    assert not prometheus.running
    assert (tmp_path / "prom" / "prometheus.log").read_text()  # kept for diagnosis
