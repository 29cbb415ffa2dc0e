"""``funnelwatch grafana push`` against a stateful stand-in for Grafana's HTTP API.

The server checks method, path and body of each request against Grafana's documented
API and keeps what is written, so the second push can prove it writes nothing.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from funnelwatch.grafana.alerting import RULES
from funnelwatch.grafana.boards import BOARDS
from funnelwatch.grafana.push import PushError, push
from funnelwatch.localstack.ports import free_port
from tests.support.fake_grafana import GrafanaState, fake_grafana

pytestmark = pytest.mark.integration
TOKEN = "glsa_test-token-0123456789"


def grafana_state() -> GrafanaState:
    return GrafanaState(
        token=TOKEN, datasources={"funnelwatch-clickhouse", "funnelwatch-prometheus"}
    )


def test_first_push_creates_folder_boards_rules_contact_point_and_policy() -> None:
    state = grafana_state()
    with fake_grafana(state) as url:
        result = push(url, TOKEN, log=lambda _: None)

    assert state.violations == []
    assert set(state.folders) == {"funnelwatch"}
    assert set(state.dashboards) == {b.uid for b in BOARDS}
    assert all(d["meta"]["folderUid"] == "funnelwatch" for d in state.dashboards.values())
    assert set(state.rules) == {r.uid for r in RULES}
    assert {p["name"] for p in state.contact_points} >= {"funnelwatch-alertmanager"}
    assert state.policy["receiver"] == "funnelwatch-alertmanager"
    assert len(result.created) == 1 + len(BOARDS) + len(RULES) + 1
    assert result.updated == ["notification policy"] and result.warnings == []


def test_second_push_changes_nothing() -> None:
    state = grafana_state()
    with fake_grafana(state) as url:
        push(url, TOKEN, log=lambda _: None)
        before = len(state.writes)
        result = push(url, TOKEN, log=lambda _: None)

    assert state.violations == []
    assert len(state.writes) == before  # not one POST or PUT
    assert result.writes == 0 and len(result.unchanged) == 1 + len(BOARDS) + len(RULES) + 2


def test_push_updates_only_what_was_changed_in_grafana() -> None:
    state = grafana_state()
    with fake_grafana(state) as url:
        push(url, TOKEN, log=lambda _: None)
        state.dashboards["funnelwatch-pipeline-health"]["dashboard"]["title"] = "edited by hand"
        state.rules["funnelwatch-lead-stall"]["for"] = "1h"
        before = len(state.writes)
        result = push(url, TOKEN, log=lambda _: None)

    assert state.writes[before:] == [
        ("POST", "/api/dashboards/db"),
        ("PUT", "/api/v1/provisioning/alert-rules/funnelwatch-lead-stall"),
    ]
    assert result.updated == [
        "dashboard funnelwatch-pipeline-health",
        "alert rule funnelwatch-lead-stall",
    ]
    assert state.dashboards["funnelwatch-pipeline-health"]["dashboard"]["title"] == (
        "Pipeline health"
    )
    assert state.violations == []


def test_wrong_token_is_reported_as_401_and_writes_nothing() -> None:
    state = grafana_state()
    with fake_grafana(state) as url, pytest.raises(PushError, match="rejected the token \\(401"):
        push(url, "wrong-token", log=lambda _: None)
    assert state.writes == []


def test_missing_clickhouse_plugin_is_reported_before_any_write() -> None:
    state = grafana_state()
    state.plugin_installed = False
    with (
        fake_grafana(state) as url,
        pytest.raises(PushError, match="grafana-clickhouse-datasource is not installed"),
    ):
        push(url, TOKEN, log=lambda _: None)
    assert state.requests == [("GET", "/api/plugins/grafana-clickhouse-datasource/settings")]


def test_wrong_url_is_reported_as_unreachable() -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with pytest.raises(PushError, match=f"cannot reach Grafana at {url}: connection refused"):
        push(url, TOKEN, log=lambda _: None, timeout=2)


def test_missing_datasource_is_a_warning_not_a_failure() -> None:
    state = grafana_state()
    state.datasources = {"funnelwatch-prometheus"}
    with fake_grafana(state) as url:
        result = push(url, TOKEN, log=lambda _: None)
    assert [w.split(":")[0] for w in result.warnings] == [
        "no data source with uid 'funnelwatch-clickhouse'"
    ]


def test_cli_reads_the_token_from_the_environment_and_never_prints_it() -> None:
    state = grafana_state()
    env = {**os.environ, "FUNNELWATCH_GRAFANA_TOKEN": TOKEN}
    with fake_grafana(state) as url:
        first = subprocess.run(
            [sys.executable, "-m", "funnelwatch.cli", "grafana", "push", "--url", url],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        again = subprocess.run(
            [sys.executable, "-m", "funnelwatch.cli", "grafana", "push", "--url", url],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    assert first.returncode == 0 and again.returncode == 0, first.stderr + again.stderr
    assert "created dashboard funnelwatch-campaign-overview" in first.stderr
    assert "0 created, 0 updated" in again.stderr
    assert TOKEN not in first.stdout + first.stderr + again.stdout + again.stderr
    assert state.violations == []
