"""``funnelwatch spend import``: options, --dry-run, and what it hands the producer."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from funnelwatch.cli import CUSTOM_COMMANDS, spend_group
from funnelwatch.connectors.spend import FORMAT_NAMES
from funnelwatch.connectors.spend.importer import FORMATS
from funnelwatch.settings import current_settings
from funnelwatch.streams.catalogue import catalogue

from .support import SAMPLES

SAMPLE = str(SAMPLES / "yandex_direct_daily.tsv")
RECENT = (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0)
ARGS = ["--format", "yandex_direct", "--timezone", "Europe/Moscow", "--account", "shop",
        "--currency", "rub", "--reported-at", RECENT.isoformat()]  # fmt: skip


def run(*args: str) -> Result:
    return CliRunner().invoke(spend_group, ["import", *args])


@pytest.fixture
def produced(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, list[tuple[bytes, bytes]]]]:
    calls: list[tuple[str, list[tuple[bytes, bytes]]]] = []

    def produce(records: Iterable[tuple[bytes, bytes]], topic: str, settings: Any) -> int:
        calls.append((topic, list(records)))
        return len(calls[-1][1])

    monkeypatch.setattr("funnelwatch.connectors.spend.produce.produce", produce)
    return calls


def test_the_command_offers_every_format_and_is_a_custom_command() -> None:
    assert tuple(FORMATS) == FORMAT_NAMES
    assert spend_group in CUSTOM_COMMANDS


def test_dry_run_prints_the_records_and_produces_nothing(
    produced: list[tuple[str, list[tuple[bytes, bytes]]]],
) -> None:
    result = run(SAMPLE, *ARGS, "--dry-run")
    assert result.exit_code == 0, result.output
    topic = catalogue(current_settings()).spend.name
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 9 and {line["topic"] for line in lines} == {topic}
    assert lines[0]["key"] == "98765432"
    assert lines[0]["value"]["spend_micros"] == 5_432_100_000
    assert lines[0]["value"]["period_start"] == "2025-05-31T21:00:00Z"
    assert lines[0]["value"]["currency"] == "RUB"
    assert result.stderr.endswith(f"; dry run, nothing produced; topic {topic}\n")
    assert produced == []


def test_an_import_hands_every_record_to_the_producer_then_prints_one_summary(
    produced: list[tuple[str, list[tuple[bytes, bytes]]]],
) -> None:
    result = run(SAMPLE, *ARGS)
    assert result.exit_code == 0, result.output
    topic = catalogue(current_settings()).spend.name
    ((to, records),) = produced
    assert to == topic and len(records) == 9
    assert records == [(r[0], r[1]) for r in records]  # (key, value) bytes
    summary = f"report time {RECENT.isoformat().replace('+00:00', 'Z')} (--reported-at)"
    assert result.stderr.splitlines() == [
        f"{SAMPLE}: 9 records from 9 rows, 2 campaigns, 3 daily periods "
        "2025-05-31T21:00:00Z to 2025-06-03T21:00:00Z, spend RUB 27,495.383333, "
        f"{summary}; produced to {topic}"
    ]


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--timezone", "Mars/Olympus", "'Mars/Olympus' is not an IANA time zone"),
        ("--currency", "euro", '"euro" is not a currency code'),
        ("--reported-at", "2026-01-10T08:00:00", "has no time zone"),
        ("--reported-at", "yesterday", "'yesterday' is not an ISO 8601 time"),
        ("--format", "tiktok", "'tiktok' is not one of"),
    ],
)
def test_a_bad_option_is_a_usage_error(
    option: str, value: str, message: str, tmp_path: Path
) -> None:
    result = run(SAMPLE, *ARGS, option, value)
    assert result.exit_code == 2
    assert message in result.stderr and "Traceback" not in result.output
