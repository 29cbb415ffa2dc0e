"""Embedded backend: the ClickHouse engine in this process (chDB).

One engine session per data directory and process: every :class:`EmbeddedClickHouse`
of a directory shares it (a second worker *process* cannot open the directory: chDB
locks it, so an embedded engine serves exactly one worker). Statements are serialized
by a lock; chDB releases the GIL while a statement runs, so other Python threads go on.
The session closes with its last client.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from clickhouse_driver.util.escape import escape_params

from .client import ClickHouseError, Columns, Params, parse_version


class _EscapeContext:
    """What clickhouse-driver's escaper asks of a connection (server time zone)."""

    class server_info:
        @staticmethod
        def get_timezone() -> str:
            return "UTC"


def sql_literals(params: Params) -> dict[str, str]:
    """Each parameter as the SQL literal clickhouse-driver's escaper makes of it (UTC):
    what a ``%(name)s`` placeholder becomes, here and for SQL built once (a board's)."""
    return dict(escape_params(params, _EscapeContext()))


def _json_value(value: Any) -> Any:
    # DateTime columns accept epoch seconds; a datetime must be aware (UTC) to mean one instant.
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime given to ClickHouse; pass an aware UTC datetime")
        return int(value.timestamp())
    return value


class _Session:
    def __init__(self, path: str) -> None:
        import chdb.session  # deferred: large library, embedded path only

        Path(path).mkdir(parents=True, exist_ok=True)
        self.session = chdb.session.Session(path)  # type: ignore[no-untyped-call]
        self.users = 0
        self.lock = threading.Lock()


_sessions: dict[str, _Session] = {}

_sessions_lock = threading.Lock()


class EmbeddedClickHouse:
    def __init__(self, path: str) -> None:
        key = str(Path(path).resolve())
        with _sessions_lock:
            shared = _sessions.get(key)
            if shared is None:
                shared = _sessions[key] = _Session(key)
            shared.users += 1
        self._key = key
        self._shared: _Session | None = shared
        self.version = parse_version(self._query("SELECT version()", "TabSeparated").strip())

    def _session(self) -> _Session:
        if self._shared is None:
            raise ClickHouseError("chDB client used after close", retryable=False)
        return self._shared

    def _query(self, sql: str, fmt: str, fw_rows: Columns | None = None) -> str:
        # ``fw_rows``: a columnar batch the statement reads as ``Python(fw_rows)``; chDB's
        # Python() table function finds its data by variable name in the caller's frame,
        # so batches travel as this frame's local (never pasted into SQL).
        shared = self._session()
        with shared.lock:
            try:
                result = shared.session.query(sql, fmt)  # type: ignore[no-untyped-call]
            except Exception as exc:  # chDB raises plain RuntimeError for SQL errors
                raise ClickHouseError(f"chDB error: {exc}", retryable=False) from exc
        return str(result.bytes().decode()) if result is not None else ""

    def execute(self, sql: str, params: Params | None = None) -> list[tuple[Any, ...]]:
        if params:
            sql = sql % sql_literals(params)
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

    def insert_columns(self, table: str, columns: Columns) -> None:
        names = list(columns)
        if not names or not len(columns[names[0]]):
            return
        data = {n: v if isinstance(v, list) else list(v) for n, v in columns.items()}
        # chDB's Python() table reads no list values: an array of strings travels as its
        # JSON text and is parsed back in the statement
        arrays = {n for n, v in data.items() if v and isinstance(v[0], list | tuple)}
        for name in arrays:
            dumps = json.dumps
            data[name] = [dumps(value) for value in data[name]]
        selected = ", ".join(
            f"JSONExtract({n}, 'Array(String)') AS {n}" if n in arrays else n for n in names
        )
        cols = ", ".join(names)
        self._query(f"INSERT INTO {table} ({cols}) SELECT {selected} FROM Python(fw_rows)",
                    "CSV", fw_rows=data)  # fmt: skip

    def close(self) -> None:
        shared, self._shared = self._shared, None
        if shared is None:
            return
        with _sessions_lock:
            shared.users -= 1
            if shared.users == 0:
                del _sessions[self._key]
                shared.session.close()  # type: ignore[no-untyped-call]
