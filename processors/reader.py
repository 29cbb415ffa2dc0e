"""Blocking ClickHouse reads, run off the event loop.

Invariant: every read runs on the reader's own thread with the reader's own client, so
no read waits behind the hot path's writes on the event loop; with embedded chDB the
client shares the process's one engine session (statements are serialized, and chDB
lets the other threads run meanwhile).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from funnelwatch.clickhouse import ClickHouse, connect

T = TypeVar("T")


class Reader:
    def __init__(self, url: str, name: str = "clickhouse-reads") -> None:
        self._url = url
        self._client: ClickHouse | None = None
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=name)

    def client(self) -> ClickHouse:
        """The reader's client; call only from the reader's thread (inside ``run``)."""
        if self._client is None:
            self._client = connect(self._url)
        return self._client

    async def run(self, query: Callable[[ClickHouse], T]) -> T:
        """``query(client)`` on the reader's thread; a failed query drops the connection."""

        def call() -> T:
            try:
                return query(self.client())
            except Exception:
                self._drop()
                raise

        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):  # a broken connection may not close cleanly
                client.close()

    def close(self) -> None:
        self._executor.submit(self._drop).result()
        self._executor.shutdown()
