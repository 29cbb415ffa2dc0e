"""The backend-neutral client interface and the URL dispatcher."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

Params = Mapping[str, Any]
#: column name -> the column's values, all of one length (a columnar batch)
Columns = Mapping[str, Sequence[Any]]


class ClickHouseError(RuntimeError):
    """A ClickHouse request failed; ``retryable`` says whether trying again may help."""

    def __init__(self, message: str, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class ClickHouse(Protocol):
    #: (major, minor) of the server, e.g. (18, 16) or (26, 9)
    version: tuple[int, int]

    def execute(self, sql: str, params: Params | None = None) -> list[tuple[Any, ...]]: ...

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None: ...

    def insert_columns(self, table: str, columns: Columns) -> None:
        """Insert a columnar batch (the cheap path for large batches): one INSERT."""
        ...

    def close(self) -> None: ...


def connect(url: str) -> ClickHouse:
    """Open the backend ``url`` names; raises ValueError for an unknown scheme."""
    parts = urlsplit(url)
    if parts.scheme == "chdb":
        from .embedded import EmbeddedClickHouse  # chDB loads ~180 MB: only on this path

        path = unquote(parts.netloc + parts.path)
        if not path:
            raise ValueError("chdb:// URL needs a directory, e.g. chdb:///var/lib/funnelwatch")
        return EmbeddedClickHouse(path)
    if parts.scheme == "clickhouse":
        from .native import NativeClickHouse

        return NativeClickHouse(
            host=parts.hostname or "localhost",
            port=parts.port or 9000,
            user=unquote(parts.username or "default"),
            password=unquote(parts.password or ""),
            database=parts.path.lstrip("/") or "default",
        )
    raise ValueError(
        f"unknown ClickHouse URL scheme {parts.scheme!r}: use clickhouse:// or chdb://"
    )


def parse_version(text: str) -> tuple[int, int]:
    major, minor = [*text.strip().split("."), "0", "0"][:2]
    return int(major), int(minor)
