"""The worker drops Faust's start-up spinner logging once it is ready."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import faust
import pytest
from faust.utils.terminal import SpinnerHandler

from funnelwatch.processors.app import FunnelWorker


@pytest.fixture
def root() -> Iterator[logging.Logger]:
    root = logging.getLogger()
    saved = (root.level, list(root.handlers))
    root.handlers = [logging.StreamHandler(io.StringIO())]
    try:
        yield root
    finally:
        root.setLevel(saved[0])
        root.handlers = saved[1]


def test_debug_calls_build_no_records_after_startup(root: logging.Logger) -> None:
    app = faust.App("worker-logging-test", broker="kafka://localhost:1")
    worker = FunnelWorker(app, loglevel="warn", stdout=io.StringIO())
    worker.on_setup_root_logger(root, logging.WARNING)
    # Faust's spinner turns every debug call into a record while the worker starts
    assert logging.getLogger("aiokafka").isEnabledFor(logging.DEBUG)

    worker._on_startup_end_spinner()

    assert not logging.getLogger("aiokafka").isEnabledFor(logging.DEBUG)
    assert logging.getLogger("aiokafka").isEnabledFor(logging.WARNING)
    assert not [h for h in root.handlers if isinstance(h, SpinnerHandler)]


def test_the_one_faust_internal_the_worker_overrides_is_there_in_the_pinned_version() -> None:
    # FunnelWorker overrides faust.Worker._on_startup_end_spinner (the only private name
    # of Faust or mode the project touches): another Faust version must fail here first
    import faust

    assert faust.__version__ == "0.15.3", (
        f"faust-streaming {faust.__version__}: check FunnelWorker._on_startup_end_spinner "
        "against this version's faust.Worker, then update the pin and this test"
    )
    assert callable(getattr(faust.Worker, "_on_startup_end_spinner", None))
