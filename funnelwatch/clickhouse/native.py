"""Native-protocol backend (clickhouse-driver): a server or cluster."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from clickhouse_driver import Client
from clickhouse_driver import errors as ch_errors

from .client import ClickHouseError, Columns, Params, parse_version

# Errors of the connection, not of the statement: a restart of ClickHouse shows as these.
_RETRYABLE = (ch_errors.NetworkError, ch_errors.SocketTimeoutError, EOFError, OSError)


class NativeClickHouse:
    def __init__(self, host: str, port: int, user: str, password: str, database: str) -> None:
        self._client = Client(
            host=host,
            port=port,
            user=user,
            password=password,
            database=database,
            connect_timeout=5,
            send_receive_timeout=120,
            settings={"use_numpy": False},
        )
        self.version = parse_version(self._run("SELECT version()", None)[0][0])

    def _run(
        self, sql: str, params: Params | None, rows: Any = None, columnar: bool = False
    ) -> list[tuple[Any, ...]]:
        try:
            if rows is not None:
                self._client.execute(sql, rows, columnar=columnar)
                return []
            return list(self._client.execute(sql, params))
        except _RETRYABLE as exc:
            self._client.disconnect()
            raise ClickHouseError(f"ClickHouse unreachable: {exc}", retryable=True) from exc
        except ch_errors.Error as exc:
            raise ClickHouseError(f"ClickHouse error: {exc}", retryable=False) from exc

    def execute(self, sql: str, params: Params | None = None) -> list[tuple[Any, ...]]:
        return self._run(sql, params)

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self._run(f"INSERT INTO {table} ({', '.join(columns)}) VALUES", None, list(rows))

    def insert_columns(self, table: str, columns: Columns) -> None:
        names = list(columns)
        if names and len(columns[names[0]]):
            sql = f"INSERT INTO {table} ({', '.join(names)}) VALUES"
            self._run(sql, None, [columns[n] for n in names], columnar=True)

    def close(self) -> None:
        self._client.disconnect()
