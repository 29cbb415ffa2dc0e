"""Blocking ClickHouse reads, run off the event loop.

Invariant: with embedded chDB (one session per process) every read runs on the sink's
own thread with the sink's own client, so the API never opens a second session; with
a ClickHouse server the API has its own connection on its own thread, so a long sink
write never delays an API answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import TYPE_CHECKING, TypeVar

from funnelwatch.clickhouse import ClickHouse, connect

if TYPE_CHECKING:
    from funnelwatch.processors.app import Pipeline

T = TypeVar("T")


class Reader:
    def __init__(self, pipeline: Pipeline) -> None:
        url = pipeline.settings.effective_clickhouse_url
        self._own: ClickHouse | None = None
        self._executor: Executor
        self._client: Callable[[], ClickHouse]
        if url.startswith("chdb:"):
            self._executor = pipeline.sink_executor
            self._client = lambda: pipeline.sink.client
        else:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="clickhouse-api")
            self._client = self._own_client
            self._url = url

    def _own_client(self) -> ClickHouse:
        if self._own is None:
            self._own = connect(self._url)
        return self._own

    async def run(self, query: Callable[[ClickHouse], T]) -> T:
        """``query(client)`` on the reader's thread."""
        return await asyncio.get_running_loop().run_in_executor(
            self._executor, lambda: query(self._client())
        )
