"""A local server as a child process: launched in its own process group, stopped whole.

Invariants: ``stop`` leaves no process of the server behind (SIGTERM to its group,
SIGKILL after the timeout) and returns only once its main port is closed, so the next
server started on that port cannot collide with it. A start either ends with a server
that answers or raises with the tail of its log, leaving no process behind.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

from .ports import wait_closed


def log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class ServerContext:
    """``with server:`` runs the block with the server ready for clients, then stops it.

    A mixin, so that a server which does not fit :class:`ServerProcess` (Kafka, stopped
    through its pidfile from any process) shares this protocol too.
    """

    def _start_ready(self) -> None:
        """Start and wait until clients are served; a failure leaves no process behind."""
        raise NotImplementedError

    def stop(self, timeout: float = 30.0) -> object:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self._start_ready()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class ServerProcess(ServerContext):
    """State under ``home`` (a temporary one, removed on stop, when none is given)."""

    #: What a failed start raises; subclasses name their own error.
    start_error: type[Exception] = RuntimeError

    def __init__(self, home: Path | None, temp_prefix: str) -> None:
        self._own_home = home is None
        self.home = Path(home) if home else Path(tempfile.mkdtemp(prefix=temp_prefix))
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def main_port(self) -> int:
        """The port that stays open exactly as long as the server runs."""
        raise NotImplementedError

    @property
    def name(self) -> str:
        """The server as error messages call it."""
        raise NotImplementedError

    @property
    def start_log(self) -> Path:
        """The log whose tail tells why a start failed."""
        raise NotImplementedError

    def start(self, timeout: float = 60.0) -> float:
        """Launch and wait until the server answers; returns the seconds it took."""
        raise NotImplementedError

    def _answers(self) -> bool:
        """True once the server serves its clients' protocol."""
        raise NotImplementedError

    def _launch(self, argv: Sequence[str], log_file: Path) -> subprocess.Popen[bytes]:
        with log_file.open("ab") as out:
            self._proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.home,
                start_new_session=True,  # own process group: stop() signals the server alone
            )
        return self._proc

    def _await_ready(self, started: float, timeout: float) -> float:
        """Wait until the launched server answers; the seconds since ``started``.

        A server that exits or is not ready by ``started + timeout`` is stopped before
        this raises, so a failed start leaves no process behind.
        """
        try:
            self._wait_ready(started + timeout)
        except BaseException:  # Ctrl-C too; the home stays, for its logs
            self._terminate(timeout=10.0)
            raise
        return time.monotonic() - started

    def _wait_ready(self, deadline: float) -> None:
        assert self._proc is not None
        while True:
            if self._proc.poll() is not None:
                raise self.start_error(
                    f"{self.name} exited (code {self._proc.returncode}) while starting; "
                    f"{self.start_log} ends with:\n{log_tail(self.start_log)}"
                )
            if self._answers():
                return
            if time.monotonic() > deadline:
                raise self.start_error(
                    f"{self.name} not ready in time; {self.start_log} ends with:\n"
                    f"{log_tail(self.start_log)}"
                )
            time.sleep(0.1)

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM, SIGKILL after ``timeout``; a home this object created is removed."""
        self._terminate(timeout)
        if self._own_home:
            shutil.rmtree(self.home, ignore_errors=True)

    def _terminate(self, timeout: float) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            wait_closed("127.0.0.1", self.main_port, timeout=5.0)

    def _start_ready(self) -> None:
        self.start()  # waits for the server and cleans up a failed start itself
