"""Join state past its horizon (both backends): whole months dropped, results kept."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from funnelwatch.clickhouse import ClickHouse
from funnelwatch.connectors.contacts import ContactRow, lead_for_contacts, record_contacts
from funnelwatch.processors.state.horizon import drop_expired
from funnelwatch.processors.state.waiting import Waiting, record_waiting

pytestmark = pytest.mark.integration

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def _epoch(year: int, month: int, day: int) -> int:
    return int(datetime(year, month, day, tzinfo=UTC).timestamp())


def _months(client: ClickHouse, table: str) -> list[int]:
    rows = client.execute(f"SELECT DISTINCT toYYYYMM(minute) FROM {table}")
    return sorted(int(r[0]) for r in rows)


def test_months_wholly_past_the_horizon_are_dropped_and_younger_ones_kept(
    client: ClickHouse,
) -> None:
    # a 30-day horizon from 3 December: cut-off 3 November; October ends before it,
    # November does not (its rows stay until the whole month has passed)
    record_waiting(client, [
        Waiting("k1", "f1", "L1", 0, _epoch(2026, 9, 30)),
        Waiting("k2", "f2", "L2", 0, _epoch(2026, 10, 31)),
        Waiting("k3", "f3", "L3", 0, _epoch(2026, 11, 1)),
        Waiting("k4", "f4", "L4", 0, _epoch(2026, 12, 2)),
    ])  # fmt: skip
    dropped = drop_expired(client, click_horizon_days=30, lead_horizon_days=180, now=NOW)
    assert dropped == {"waiting_forms": [202609, 202610]}
    assert _months(client, "waiting_forms") == [202611, 202612]
    # a second sweep finds nothing more
    assert drop_expired(client, click_horizon_days=30, lead_horizon_days=180, now=NOW) == {}


def test_contact_hashes_are_dropped_with_the_lead_horizon(client: ClickHouse) -> None:
    # a 30-day lead horizon from 3 December: October's links go, November's stay
    record_contacts(client, [
        ContactRow("e:" + "1" * 64, "L1", 0, "f1", _epoch(2026, 10, 31), 0),
        ContactRow("e:" + "2" * 64, "L2", 0, "f2", _epoch(2026, 11, 1), 0),
    ])  # fmt: skip
    dropped = drop_expired(client, click_horizon_days=180, lead_horizon_days=30, now=NOW)
    assert dropped == {"lead_contacts": [202610]}
    assert _months(client, "lead_contacts") == [202611]
    assert lead_for_contacts(client, ["e:" + "1" * 64]) is None
    assert lead_for_contacts(client, ["e:" + "2" * 64]) == "L2"
