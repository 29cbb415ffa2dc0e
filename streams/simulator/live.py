"""Live pacing: hand records out no earlier than their simulated send time allows.

Invariant: with the simulated clock ``sim(w) = start + (w - w0) * speed`` (``w0`` the wall
time pacing began, ``start`` from :func:`.planning.live_start`), a record is released
only once ``sim(w) >= send_ms >= event time``; as ``sim(w) <= w`` throughout the run,
no released event is timed in the future.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator

from .records import SentRecord, TimedRecord


def linear(send_ms: int, start_ms: int, wall0: float, speed: float) -> float:
    """Wall time to send a record: the simulated clock runs ``speed`` times real time."""
    return wall0 + (send_ms - start_ms) / 1000.0 / speed


def paced(
    records: Iterable[TimedRecord],
    start_ms: int,
    speed: float = 1.0,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    release: Callable[[int, int, float, float], float] = linear,
) -> Iterator[SentRecord]:
    """Yield each record at its ``release`` time (default: when the simulated clock
    reaches its send time)."""
    if speed <= 0:
        raise ValueError("speed must be positive")
    wall0 = clock()
    for timed in records:
        due = release(timed.send_ms, start_ms, wall0, speed)
        while (wait := due - clock()) > 0:  # loop: a sleep may end a hair early
            sleep(wait)
        yield timed.record
