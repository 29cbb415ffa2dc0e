"""Retry logic of the sink (a fake client stands in for ClickHouse: logic only)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from funnelwatch.clickhouse import ClickHouseError
from funnelwatch.processors import sink as sink_module
from funnelwatch.processors.sink import FactSink
from funnelwatch.schemas.funnel import load_funnel
from tests.support.clickhouse import fact


class FlakyClient:
    version = (26, 9)

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.inserts: list[str] = []

    def execute(self, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        return [(None, None)] if "sink_progress" in sql and "SELECT" in sql else []

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        if self.failures:
            self.failures -= 1
            raise ClickHouseError("connection refused", retryable=True)
        self.inserts.append(table)

    def close(self) -> None:
        pass


def test_transient_failures_are_retried_until_the_batch_is_written(monkeypatch: Any) -> None:
    monkeypatch.setattr(sink_module.time, "sleep", lambda _: None)
    client = FlakyClient(failures=3)
    connects: list[int] = []

    def connect() -> FlakyClient:
        connects.append(1)
        return client

    FactSink(connect, load_funnel(), (15,), roll_interval=0).flush([fact(1, "click", 0)])
    assert client.inserts == ["funnel_facts", "sink_progress", "sink_progress"]
    assert len(connects) == 4  # a fresh connection after each failure
