"""Log lines of a repeated condition (an outage) as a few lines with counts.

:class:`Quieter` prints the first message of a kind at once, then at most one line per
window saying how many more like it came: ClickHouse or the broker away for minutes is
a handful of lines, not one per attempt.
"""

from __future__ import annotations

import logging
import threading
import time

#: at most one line per kind of message in this many seconds
QUIET_SECONDS = 30.0


class Quieter:
    """Prints the first message of a kind, then at most one summary per window."""

    def __init__(self, logger: logging.Logger, window: float = QUIET_SECONDS) -> None:
        self._log = logger
        self._window = window
        self._lock = threading.Lock()
        self._seen: dict[str, tuple[float, int, str]] = {}  # kind -> (since, suppressed, last)

    def __call__(self, level: int, kind: str, message: str) -> None:
        now = time.monotonic()
        with self._lock:
            since, suppressed, _ = self._seen.get(kind, (0.0, 0, ""))
            if now - since < self._window:
                self._seen[kind] = (since, suppressed + 1, message)
                return
            self._seen[kind] = (now, 0, message)
        if suppressed:
            self._log.log(level, "%s (and %d more like it in %.0fs)", message, suppressed,
                          now - since)  # fmt: skip
        else:
            self._log.log(level, "%s", message)
