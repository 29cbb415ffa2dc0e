"""Migrations on the ClickHouse server: re-runnable, and safe when workers start together."""

from __future__ import annotations

import threading
import uuid

import pytest

from funnelwatch.clickhouse import connect
from funnelwatch.schemas.migrate import migrate, migrations
from tests.support.clickhouse import drop_database, server_database_url

pytestmark = pytest.mark.integration


def test_three_workers_migrating_one_new_database_at_once_all_succeed(
    clickhouse_server_url: str,
) -> None:
    name = f"t_migrate_{uuid.uuid4().hex[:8]}"
    admin = connect(clickhouse_server_url)
    admin.execute(f"CREATE DATABASE {name}")
    admin.close()
    url = server_database_url(clickhouse_server_url, name)
    errors: list[BaseException] = []
    start = threading.Barrier(3)

    def worker() -> None:
        client = connect(url)
        try:
            start.wait()
            migrate(client)
        except BaseException as exc:
            errors.append(exc)
        finally:
            client.close()

    try:
        threads = [threading.Thread(target=worker) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert errors == []
        client = connect(url)
        try:
            columns = client.execute(
                "SELECT name FROM system.columns WHERE database = currentDatabase() "
                "AND table = 'funnel_facts' AND name = 'lead_partition'"
            )
            applied = {r[0] for r in client.execute("SELECT version FROM schema_migrations")}
            assert migrate(client) == []  # nothing left to apply
        finally:
            client.close()
        assert columns == [("lead_partition",)]
        assert applied == {m.version for m in migrations()}
    finally:
        drop_database(clickhouse_server_url, name)
