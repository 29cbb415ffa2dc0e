"""Embedded backend: the ClickHouse engine in this process (chDB).

chDB allows one session per process; this module keeps one per data directory.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from clickhouse_driver.util.escape import escape_params

from .client import ClickHouseError, Params, parse_version


class _EscapeContext:
    """What clickhouse-driver's escaper asks of a connection (server time zone)."""

    class server_info:
        @staticmethod
        def get_timezone() -> str:
            return "UTC"


def _json_value(value: Any) -> Any:
    # DateTime columns accept epoch seconds; a datetime must be aware (UTC) to mean one instant.
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime given to ClickHouse; pass an aware UTC datetime")
        return int(value.timestamp())
    return value


class EmbeddedClickHouse:
    _lock = threading.Lock()

    def __init__(self, path: str) -> None:
        import chdb.session  # deferred: large library, embedded path only

        Path(path).mkdir(parents=True, exist_ok=True)
        self._session = chdb.session.Session(path)  # type: ignore[no-untyped-call]
        self.version = parse_version(self._query("SELECT version()", "TabSeparated").strip())

    def _query(self, sql: str, fmt: str) -> str:
        with self._lock:
            try:
                result = self._session.query(sql, fmt)  # type: ignore[no-untyped-call]
            except Exception as exc:  # chDB raises plain RuntimeError for SQL errors
                raise ClickHouseError(f"chDB error: {exc}", retryable=False) from exc
        return str(result.bytes().decode()) if result is not None else ""

    def execute(self, sql: str, params: Params | None = None) -> list[tuple[Any, ...]]:
        if params:
            sql = sql % escape_params(params, _EscapeContext())
        out = self._query(sql, "JSONCompact")
        if not out.strip():
            return []
        return [tuple(row) for row in json.loads(out)["data"]]

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        # Values travel as JSON documents (JSONEachRow), encoded by json, not pasted into SQL.
        body = "\n".join(
            json.dumps({c: _json_value(v) for c, v in zip(columns, row, strict=True)})
            for row in rows
        )
        self._query(f"INSERT INTO {table} ({', '.join(columns)}) FORMAT JSONEachRow\n{body}", "CSV")

    def close(self) -> None:
        self._session.close()  # type: ignore[no-untyped-call]
