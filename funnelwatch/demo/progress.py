"""What the demo shows until its first board: each start-up step, its time, live counts.

:class:`StartupProgress` keeps the steps; a finished step is printed once as a line
("✓ Kafka broker ready on … (8.1 s)"), which stays in the terminal above the live
display and is all a non-terminal output (a pipe, a CI log) sees. The steps still
running are rendered with their elapsed seconds and the live counts (records the
simulator sent, events the worker consumed), so the wait is never a bare spinner.
:class:`Screen` is the live display's one renderable: the progress until a board is
set, then the board. Invariant: rendering does no I/O and changes no state (the live
display renders from its own thread).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.text import Text

SPINNER = "◐◓◑◒"


@dataclass
class _Step:
    key: str
    text: str
    started: float


class StartupProgress:
    """Start-up steps and counts; ``print`` shows a finished step (``console.print``)."""

    def __init__(
        self,
        print: Callable[[RenderableType], None],
        *,
        sent: Callable[[], int] = lambda: 0,
        consumed: Callable[[], float] = lambda: 0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._print = print
        self._sent = sent
        self._consumed = consumed
        self._clock = clock
        self.began = clock()
        self._running: dict[str, _Step] = {}
        self._finished: set[str] = set()
        self._lock = threading.Lock()

    def begin(self, key: str, text: str) -> None:
        with self._lock:
            if key not in self._running and key not in self._finished:
                self._running[key] = _Step(key, text, self._clock())

    def done(self, key: str, text: str | None = None, at: float | None = None) -> None:
        """Finish ``key`` now (or ``at``, a time of the clock); a step never begun counts
        from the start of the demo; a step finishes once, later calls do nothing."""
        with self._lock:
            if key in self._finished:
                return
            self._finished.add(key)
            step = self._running.pop(key, None)
        now = self._clock() if at is None else at
        took = max(0.0, now - (step.started if step else self.began))
        line = Text("✓ ", style="green")
        line.append(text or (step.text if step else key))
        line.append(f" ({took:.1f} s; {now - self.began:.0f} s since start)", style="dim")
        self._print(line)

    def is_done(self, key: str) -> bool:
        with self._lock:
            return key in self._finished

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        now = self._clock()
        with self._lock:
            running = list(self._running.values())
        spin = SPINNER[int(now * 4) % len(SPINNER)]
        lines = []
        for step in running:
            line = Text(f"{spin} {step.text}… ", style="bold")
            line.append(f"{now - step.started:.0f} s", style="cyan")
            lines.append(line)
        counts = Text(
            f"  simulator: {self._sent():,} records sent · worker: "
            f"{self._consumed():,.0f} events consumed · {now - self.began:.0f} s since start",
            style="dim",
        )
        yield Group(*lines, counts)


class Screen:
    """The live display: the start-up progress until :meth:`show` gets a board."""

    def __init__(self, progress: StartupProgress) -> None:
        self.progress = progress
        self._board: RenderableType | None = None

    def show(self, board: RenderableType) -> None:
        self._board = board

    @property
    def board(self) -> RenderableType | None:
        return self._board

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield self._board if self._board is not None else self.progress
