"""ClickHouse access with two backends chosen by URL.

``clickhouse://user:pass@host:9000/db`` talks the native protocol (clickhouse-driver);
``chdb:///path/to/dir`` runs the ClickHouse engine in-process (chDB, imported only
on that path because its library is large). Both take SQL with ``%(name)s``
placeholders whose values are escaped by clickhouse-driver, never pasted by hand,
and both return rows as tuples. Callers read DateTime columns as ``toUInt32(...)``
epoch seconds so that no time zone is guessed anywhere.
"""

from .client import ClickHouse, ClickHouseError, connect

__all__ = ["ClickHouse", "ClickHouseError", "connect"]
