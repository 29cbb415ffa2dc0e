"""Ordered, re-runnable ClickHouse migrations (``funnelwatch db migrate``).

Invariant: a migration is applied at most once per database (recorded in
``schema_migrations``) and every statement is idempotent (``IF NOT EXISTS``; an
``ALTER TABLE t ADD COLUMN c`` is skipped when ``c`` exists, since ClickHouse 18.16
knows no ``ADD COLUMN IF NOT EXISTS``; one that fails because another worker migrating
at the same time added it counts as done), so a migration interrupted half-way is
simply run again, and workers started together may all migrate. The same files serve the
Debian ClickHouse 18.16 server and modern ClickHouse/chDB: the few clauses only
modern versions know are template variables filled per server version.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from string import Template

from funnelwatch.clickhouse import ClickHouse

MIGRATIONS_DIR = Path(__file__).with_name("migrations")

_LEDGER = """
CREATE TABLE IF NOT EXISTS schema_migrations
(version UInt32, name String, applied_at DateTime)
ENGINE = MergeTree ORDER BY version
"""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path

    def statements(self, server_version: tuple[int, int]) -> list[str]:
        modern = server_version >= (20, 1)
        text = Template(self.path.read_text()).substitute(
            label="LowCardinality(String)" if modern else "String",
        )
        body = "\n".join(ln for ln in text.splitlines() if not ln.lstrip().startswith("--"))
        return [s.strip() for s in body.split(";") if s.strip()]


_ADD_COLUMN = re.compile(r"ALTER\s+TABLE\s+(\w+)\s+ADD\s+COLUMN\s+(\w+)\s", re.IGNORECASE)


def _already_done(client: ClickHouse, statement: str) -> bool:
    added = _ADD_COLUMN.match(statement)
    if added is None:
        return False
    rows = client.execute(
        "SELECT count() FROM system.columns WHERE database = currentDatabase() "
        "AND table = %(table)s AND name = %(column)s",
        {"table": added.group(1), "column": added.group(2)},
    )
    return bool(rows and int(rows[0][0]))


def migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    found = []
    for path in sorted(directory.glob("*.sql")):
        number, _, name = path.stem.partition("_")
        found.append(Migration(int(number), name, path))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"duplicate migration numbers in {directory}")
    return found


def migrate(client: ClickHouse, log: Callable[[str], None] = lambda _: None) -> list[int]:
    """Apply every migration not yet applied, in order; return the versions applied."""
    client.execute(_LEDGER)
    done = {row[0] for row in client.execute("SELECT version FROM schema_migrations")}
    applied = []
    for m in migrations():
        if m.version in done:
            continue
        for statement in m.statements(client.version):
            if _already_done(client, statement):
                continue
            try:
                client.execute(statement)
            except Exception:
                # workers started together migrate together: another one may have added
                # the column between the check and this statement
                if not _already_done(client, statement):
                    raise
        client.insert(
            "schema_migrations",
            ("version", "name", "applied_at"),
            [(m.version, m.name, datetime.now(UTC).replace(microsecond=0))],
        )
        log(f"applied migration {m.version:04d} {m.name}")
        applied.append(m.version)
    return applied
