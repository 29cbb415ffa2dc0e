"""A local server as a child process: launched in its own process group, stopped whole.

Invariant: ``stop`` leaves no process of the server behind (SIGTERM to its group,
SIGKILL after the timeout) and returns only once its main port is closed, so the next
server started on that port cannot collide with it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

from .ports import wait_closed


class ServerProcess:
    """State under ``home`` (a temporary one, removed on stop, when none is given)."""

    def __init__(self, home: Path | None, temp_prefix: str) -> None:
        self._own_home = home is None
        self.home = Path(home) if home else Path(tempfile.mkdtemp(prefix=temp_prefix))
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def main_port(self) -> int:
        """The port that stays open exactly as long as the server runs."""
        raise NotImplementedError

    def start(self, timeout: float = 60.0) -> float:
        """Launch and wait until the server answers; returns the seconds it took."""
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

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
