"""Simulator data in ClickHouse (both backends), loaded once per module and backend.

Four hours of flat traffic of the eight default campaigns; the forms of
cmp-search-brand break at minute 200 (a form outage), so the last 40 minutes of that
campaign have clicks and no leads. Two detector alerts (the ``alerts`` table contract)
sit next to it: a firing one for cmp-search-brand and a resolved one.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from funnelwatch.clickhouse import ClickHouse
from funnelwatch.processors.alerting.store import ALERT_COLUMNS
from funnelwatch.streams.simulator.incidents import form_broken
from tests.support.clickhouse import fresh_database
from tests.support.simulated_kpis import Simulation, load

START = 1_793_527_200  # 2026-11-01 10:00 UTC
OUTAGE_CAMPAIGN, OUTAGE_MINUTE = "cmp-search-brand", 200
SIMULATION = Simulation(
    start=START, minutes=240, incidents=(form_broken(OUTAGE_CAMPAIGN, OUTAGE_MINUTE),)
)


def _at(minute: int) -> datetime:
    return datetime.fromtimestamp(START + minute * 60, UTC)


NEVER = datetime.fromtimestamp(0, UTC)  # resolved_at of a firing alert (the contract)
ALERT_ROWS = [
    ("a-brand-1", "conversion_drop", "firing", OUTAGE_CAMPAIGN, "conversion", "click", "lead",
     '["all=all"]', _at(OUTAGE_MINUTE), _at(OUTAGE_MINUTE + 4), NEVER,
     0.074, 0.0, 12.5, "click→lead 0.0% vs 7.4%", 1),
    ("a-generic-1", "stall", "firing", "cmp-search-generic", "conversion", "click", "lead",
     '["device=tablet"]', _at(60), _at(65), NEVER, 0.04, 0.0, 2.0, "stall", 1),
    ("a-generic-1", "stall", "resolved", "cmp-search-generic", "conversion", "click", "lead",
     '["device=tablet"]', _at(60), _at(65), _at(90), 0.04, 0.0, 2.0, "stall resolved", 2),
]  # fmt: skip


@pytest.fixture(scope="module", params=["chdb", "server"])
def loaded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[ClickHouse]:  # fmt: skip
    """A ClickHouse holding the simulation (module-scoped: loading it once per backend)."""
    if request.param == "chdb":
        url = f"chdb://{tmp_path_factory.mktemp('grafana-chdb')}"
    else:
        url = request.getfixturevalue("clickhouse_server_url")
    client = fresh_database(url, "grafana_boards")
    load(client, SIMULATION)
    client.insert("alerts", ALERT_COLUMNS, ALERT_ROWS)
    yield client
    client.close()
