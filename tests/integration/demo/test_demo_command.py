"""`funnelwatch demo` end to end: real Kafka, embedded ClickHouse, the live board."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from funnelwatch.localstack.ports import free_port

pytestmark = pytest.mark.integration


def test_demo_board_marks_the_campaign_whose_form_broke(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUNNELWATCH_")}
    env.update(
        FUNNELWATCH_KAFKA_BOOTSTRAP=kafka_bootstrap,
        FUNNELWATCH_DATA_DIR=str(tmp_path),
        FUNNELWATCH_WEB_PORT=str(free_port()),
        COLUMNS="200",
    )
    done = subprocess.run(
        [sys.executable, "-m", "funnelwatch.cli", "demo", "--duration", "60",
         "--incident", "form_broken:cmp-search-brand:10"],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-3000:]
    assert f"using Kafka at {kafka_bootstrap}" in out
    final = out[out.rindex("funnelwatch ·") :]  # the board printed after the stop
    assert "▼ conversion drop  cmp-search-brand: click→lead 0.0%" in final, final
    marked = [line for line in final.splitlines() if line.startswith("▼ cmp-")]
    assert [line.split()[1] for line in marked] == ["cmp-search-brand"], final
    assert "demo stopped after" in out
    port = env["FUNNELWATCH_WEB_PORT"]
    assert f"live board: http://127.0.0.1:{port}/" in out
