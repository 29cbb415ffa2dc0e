"""Row versions: wall-clock microseconds that never go back.

Every rewritten row (facts, per-minute KPIs, rolling conversions, progress) carries one;
readers take the highest. Invariant: a version is above every version this process
handed out before or saw in ClickHouse (:func:`saw_version`, called wherever rows are
read back on start or on taking over a partition), so a rewrite always wins over the
row it replaces, even on a clock stepped back or across machines whose clocks differ.
"""

from __future__ import annotations

import threading
import time

_last_version = 0
_version_lock = threading.Lock()


def new_version() -> int:
    """A version above every one this process handed out or saw (microseconds)."""
    global _last_version
    with _version_lock:
        _last_version = max(time.time_ns() // 1000, _last_version + 1)
        return _last_version


def saw_version(version: int) -> None:
    """Note a version read back from ClickHouse: later ones are above it (a restart)."""
    global _last_version
    with _version_lock:
        _last_version = max(_last_version, version)
