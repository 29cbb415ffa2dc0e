"""The lead store: every lead of the partitions this worker owns, on local disk.

One SQLite file per store slot (``<state_dir>/slot-<n>/leads.sqlite``); a slot is held
by one process at a time (an exclusive lock on the slot), so several workers can share
a data directory, and a restarted worker finds the slot it used before.

Invariants:
- the store holds, for each partition it owns, the state of every lead as of the
  batches it saved, and ``applied`` says up to which offsets (written only after Kafka
  confirmed the commit of those offsets); the state may be ahead of ``applied`` (saved,
  then the process died before the commit), never behind it;
- whether the store may be trusted for a partition is decided outside
  (:mod:`.restore`): a store that is not trusted is overwritten from ClickHouse;
- only the hot path's thread uses a store (SQLite connections are not shared);
- a store holds the states of one segment set (their attributions' values follow its
  order): opened under another set's signature, it forgets every state and offset, so
  each partition is rebuilt from ClickHouse (whose facts name their dimensions).

States handed out by :meth:`LeadStore.load` may be changed by the caller; they are
written by :meth:`save`. After an abandoned batch the caller calls
:meth:`discard_unsaved` so that changed but unsaved states are read again from disk.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from pathlib import Path

from ..attribution.lead import LeadState, decode_state, encode_state

TopicPartition = tuple[str, int]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS leads (
    part INTEGER NOT NULL, lead_id TEXT NOT NULL, first_ms INTEGER NOT NULL,
    state BLOB NOT NULL, PRIMARY KEY (part, lead_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS applied (
    topic TEXT NOT NULL, part INTEGER NOT NULL, next_offset INTEGER NOT NULL,
    PRIMARY KEY (topic, part)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
"""
#: ids per SQLite lookup statement (well below SQLite's 32,766 variables)
_CHUNK = 500


class StoreLocked(RuntimeError):
    pass


def open_slot(state_dir: Path, max_slots: int = 64) -> tuple[Path, int]:
    """The first slot directory no other process holds, and its held lock (a file fd)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    for n in range(max_slots):
        slot = state_dir / f"slot-{n}"
        slot.mkdir(exist_ok=True)
        fd = os.open(slot / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        return slot, fd
    raise StoreLocked(f"all {max_slots} lead store slots under {state_dir} are in use")


class LeadStore:
    def __init__(self, state_dir: Path, cache_size: int, segments: str = "") -> None:
        self.path, self._lock_fd = open_slot(state_dir)
        self._db = sqlite3.connect(
            self.path / "leads.sqlite", isolation_level=None, check_same_thread=False
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL: a transaction survives the process being killed (not a power loss, after
        # which the store is rebuilt from ClickHouse anyway: see restore.trusted)
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self.store_id = self._meta("store_id") or self._new_id()
        if self._meta("segments") != segments:
            with self._txn():
                self._db.execute("DELETE FROM leads")
                self._db.execute("DELETE FROM applied")
                self._set_meta("segments", segments)
        self._cache: OrderedDict[str, tuple[int, LeadState]] = OrderedDict()
        self._cache_size = cache_size

    def _meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _set_meta(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def _new_id(self) -> str:
        store_id = uuid.uuid4().hex
        self._set_meta("store_id", store_id)
        return store_id

    @property
    def max_version(self) -> int:
        """The highest row version this store's owner wrote (its clock never goes back)."""
        return int(self._meta("max_version") or 0)

    # ---- offsets ------------------------------------------------------------------

    def applied(self, tps: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
        """Next offset the store reflects for each partition it knows (others left out)."""
        rows = self._db.execute("SELECT topic, part, next_offset FROM applied").fetchall()
        known = {(str(t), int(p)): int(o) for t, p, o in rows}
        return {tp: known[tp] for tp in tps if tp in known}

    def set_applied(self, offsets: Mapping[TopicPartition, int], max_version: int) -> None:
        """Record offsets Kafka confirmed as committed (and the newest version written)."""
        with self._txn():
            self._db.executemany(
                "INSERT OR REPLACE INTO applied VALUES (?, ?, ?)",
                [(t, p, o) for (t, p), o in offsets.items()],
            )
            self._set_meta("max_version", str(max(max_version, self.max_version)))

    # ---- lead states ----------------------------------------------------------------

    def load(self, part: int, lead_ids: Iterable[str]) -> dict[str, LeadState]:
        """The stored state of each of these leads that the store knows."""
        found: dict[str, LeadState] = {}
        missing = []
        for lead_id in lead_ids:
            hit = self._cache.get(lead_id)
            if hit is not None:
                self._cache.move_to_end(lead_id)
                found[lead_id] = hit[1]
            else:
                missing.append(lead_id)
        for i in range(0, len(missing), _CHUNK):
            chunk = missing[i : i + _CHUNK]
            marks = ",".join("?" * len(chunk))
            for lead_id, blob in self._db.execute(
                f"SELECT lead_id, state FROM leads WHERE part = ? AND lead_id IN ({marks})",
                (part, *chunk),
            ):
                found[lead_id] = state = decode_state(blob)
                self._remember(lead_id, part, state)
        return found

    def _remember(self, lead_id: str, part: int, state: LeadState) -> None:
        self._cache[lead_id] = (part, state)
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    def save(self, part: int, states: Mapping[str, LeadState]) -> None:
        """Write these states (one transaction)."""
        rows = [(part, lead_id, s.first_ms, encode_state(s)) for lead_id, s in states.items()]
        with self._txn():
            self._db.executemany("INSERT OR REPLACE INTO leads VALUES (?, ?, ?, ?)", rows)
        for lead_id, state in states.items():
            self._remember(lead_id, part, state)

    def replace_partition(self, part: int, states: Iterable[tuple[str, LeadState]]) -> int:
        """Make the store hold exactly these states for ``part``; returns how many."""
        self.forget_partition(part)
        count = 0
        with self._txn():
            self._db.execute("DELETE FROM leads WHERE part = ?", (part,))
            self._db.execute("DELETE FROM applied WHERE part = ?", (part,))
            batch: list[tuple[int, str, int, bytes]] = []
            for lead_id, state in states:
                batch.append((part, lead_id, state.first_ms, encode_state(state)))
                if len(batch) >= 10_000:
                    self._db.executemany("INSERT INTO leads VALUES (?, ?, ?, ?)", batch)
                    count += len(batch)
                    batch = []
            self._db.executemany("INSERT INTO leads VALUES (?, ?, ?, ?)", batch)
            count += len(batch)
        return count

    def forget_partition(self, part: int) -> None:
        """Drop a partition's states from memory (another worker may change them now)."""
        for lead_id in [k for k, (p, _) in self._cache.items() if p == part]:
            del self._cache[lead_id]

    def discard_unsaved(self) -> None:
        """Forget every state in memory: changes of an abandoned batch are not on disk."""
        self._cache.clear()

    def expire(self, cutoff_ms: int) -> int:
        """Forget the events older than ``cutoff_ms`` (the horizon); returns leads changed."""
        changed: dict[int, dict[str, LeadState]] = {}
        gone: list[tuple[int, str]] = []
        for part, lead_id, blob in self._db.execute(
            "SELECT part, lead_id, state FROM leads WHERE first_ms < ?", (cutoff_ms,)
        ).fetchall():
            state = decode_state(blob)
            state.forms = {k: v for k, v in state.forms.items() if v.t >= cutoff_ms}
            state.crm = {k: v for k, v in state.crm.items() if v.t >= cutoff_ms}
            if state.forms or state.crm:
                changed.setdefault(int(part), {})[str(lead_id)] = state
            else:
                gone.append((int(part), str(lead_id)))
        with self._txn():
            self._db.executemany("DELETE FROM leads WHERE part = ? AND lead_id = ?", gone)
        for part, states in changed.items():
            self.save(part, states)
        self._cache.clear()
        return len(gone) + sum(len(s) for s in changed.values())

    def count(self, part: int | None = None) -> int:
        if part is None:
            row = self._db.execute("SELECT count(*) FROM leads").fetchone()
        else:
            row = self._db.execute("SELECT count(*) FROM leads WHERE part = ?", (part,)).fetchone()
        return int(row[0])

    def _txn(self) -> _Transaction:
        return _Transaction(self._db)

    def close(self) -> None:
        self._db.close()
        os.close(self._lock_fd)


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN")

    def __exit__(self, exc_type: object, *_: object) -> None:
        self._db.execute("ROLLBACK" if exc_type is not None else "COMMIT")
