"""The demo's start-up progress: finished steps printed once, running ones with seconds."""

from __future__ import annotations

import io

from rich.console import Console
from rich.text import Text

from funnelwatch.demo.progress import Screen, StartupProgress


def text_of(renderable: object) -> str:
    console = Console(record=True, width=120, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


def test_running_steps_show_their_seconds_and_the_counts() -> None:
    now = [100.0]
    printed: list[object] = []
    progress = StartupProgress(
        printed.append, sent=lambda: 1234, consumed=lambda: 56.0, clock=lambda: now[0]
    )
    progress.begin("kafka", "starting the local Kafka broker")
    now[0] = 103.2

    shown = text_of(progress)
    assert "starting the local Kafka broker… 3 s" in shown
    assert "simulator: 1,234 records sent · worker: 56 events consumed · 3 s since start" in shown
    assert printed == []


def test_a_finished_step_is_printed_once_with_its_time_and_leaves_the_display() -> None:
    now = [100.0]
    printed: list[object] = []
    progress = StartupProgress(printed.append, clock=lambda: now[0])
    progress.begin("worker", "starting the worker")
    now[0] = 108.0
    progress.done("worker", "worker running")
    progress.done("worker", "worker running")  # once only
    progress.begin("worker", "starting the worker")  # not again either

    assert len(printed) == 1
    assert isinstance(printed[0], Text)
    assert printed[0].plain == "✓ worker running (8.0 s; 8 s since start)"
    assert "starting the worker" not in text_of(progress)
    assert progress.is_done("worker")


def test_a_step_can_finish_at_a_recorded_time_and_without_a_begin() -> None:
    now = [100.0]
    printed: list[object] = []
    progress = StartupProgress(printed.append, clock=lambda: now[0])
    now[0] = 110.0
    progress.done("traffic", "first records sent", at=104.5)

    assert [str(p) for p in printed] == ["✓ first records sent (4.5 s; 4 s since start)"]


def test_screen_shows_progress_until_a_board_is_set() -> None:
    progress = StartupProgress(lambda _: None)
    progress.begin("kpis", "waiting for the first KPI rows")
    screen = Screen(progress)

    assert "waiting for the first KPI rows" in text_of(screen)
    screen.show(Text("the board"))
    assert text_of(screen).strip() == "the board"
