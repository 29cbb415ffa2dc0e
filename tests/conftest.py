"""Shared fixtures: a real Kafka broker and a real ClickHouse server for the session.

Both are started by the harness itself (``funnelwatch.localstack``). Set
FUNNELWATCH_TEST_KAFKA=host:port to use a broker you already run instead.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis.configuration import set_hypothesis_home_dir

from funnelwatch.localstack.ports import free_port

# Hypothesis keeps caches (and its example database) in .hypothesis/ of the working
# directory: keep them out of the work tree.
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "funnelwatch-hypothesis")


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    external = os.environ.get("FUNNELWATCH_TEST_KAFKA")
    if external:
        yield external
        return
    from funnelwatch.localstack.kafka import LocalKafka

    broker = LocalKafka(tmp_path_factory.mktemp("kafka"), port=free_port())
    broker.install()
    broker.start()
    broker.wait_ready()
    try:
        yield broker.bootstrap
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def clickhouse_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from funnelwatch.localstack.clickhouse_server import LocalClickHouseServer

    server = LocalClickHouseServer(tmp_path_factory.mktemp("clickhouse-server"))
    server.install()
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(params=["chdb", "server"])
def clickhouse_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test using this runs once on embedded chDB and once on the Debian server."""
    if request.param == "chdb":
        return f"chdb://{tmp_path / 'chdb'}"
    base: str = request.getfixturevalue("clickhouse_server_url")
    return base


@pytest.fixture
def measured(record_property: Callable[[str, object], None]) -> Callable[[str], None]:
    """Record a figure for the CI log; the run's summary lists them under "measured"
    (a property of the test's report, so it also reaches the log from xdist workers)."""

    def note(line: str) -> None:
        record_property("measured", line)

    return note


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    lines = [
        f"{report.nodeid}: {value}"
        for reports in terminalreporter.stats.values()
        for report in reports
        if getattr(report, "when", "") == "call"
        for name, value in getattr(report, "user_properties", ())
        if name == "measured"
    ]
    if lines:
        terminalreporter.section("measured")
        for line in lines:
            terminalreporter.write_line(line)
