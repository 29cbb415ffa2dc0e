"""A migrated ClickHouse of the test's own, on each backend (the ``clickhouse_url`` params)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest

from funnelwatch.clickhouse import ClickHouse
from tests.support.clickhouse import drop_database, fresh_database


@pytest.fixture
def client(clickhouse_url: str, request: pytest.FixtureRequest) -> Iterator[ClickHouse]:
    name = "t_" + hashlib.sha1(request.node.nodeid.encode()).hexdigest()[:16]
    c = fresh_database(clickhouse_url, name)
    try:
        yield c
    finally:
        c.close()
        drop_database(clickhouse_url, name)
