"""A report file -> its validated ad_spend events, the Kafka records and the summary.

Invariants:
- :func:`load_report` reads, parses and validates the whole file before it returns:
  it gives every event of the file or raises :class:`~.model.SpendFileError`, never a
  part; nothing here produces;
- the report time is ``--reported-at``, else the file's modification time (to the
  millisecond), and the import says which of the two it used;
- a record is keyed by ``campaign_id`` and its value is the contract's JSON,
  ``json.dumps(to_json_dict(event))``.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from funnelwatch.schemas.contracts import Limits, to_json_dict
from funnelwatch.schemas.events import AdSpend

from . import FORMAT_NAMES, google_ads, meta_ads, microsoft_ads, yandex_direct
from .cells import units
from .events import iso, to_events
from .model import ImportOptions, SpendFileError, SpendRow
from .periods import HOUR
from .table import Layout, Table, read_table

REPORTED_AT_OPTION = "--reported-at"
FILE_TIME = "file modification time"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Format:
    platform: str
    layout: Layout
    parse: Callable[[Table, ImportOptions], list[SpendRow]]


FORMATS = {
    m.PLATFORM: Format(m.PLATFORM, m.LAYOUT, m.parse)
    for m in (google_ads, meta_ads, microsoft_ads, yandex_direct)
}
assert tuple(FORMATS) == FORMAT_NAMES, "FORMAT_NAMES lists the formats the CLI offers"


@dataclass(frozen=True)
class SpendImport:
    """Everything one file will produce."""

    file: str
    platform: str
    #: data rows read (identical repeated rows give one event)
    rows: int
    events: tuple[AdSpend, ...]
    reported_at: datetime
    #: REPORTED_AT_OPTION or FILE_TIME
    report_time_source: str

    def records(self) -> Iterator[tuple[bytes, bytes]]:
        """(key, value) of each record, in file order."""
        for event in self.events:
            yield event.campaign_id.encode(), json.dumps(to_json_dict(event)).encode()

    def summary(self, topic: str, produced: bool) -> str:
        """The one line that tells what the import did (or, with --dry-run, would do)."""
        events = self.events
        periods = {(e.period_start, e.period_seconds) for e in events}
        kinds = sorted({"hourly" if s == HOUR else "daily" for _, s in periods})
        spend: dict[str, int] = defaultdict(int)
        for e in events:
            spend[e.currency] += e.spend_micros
        first = min(start for start, _ in periods)
        end = max(start + timedelta(seconds=seconds) for start, seconds in periods)
        outcome = "produced to" if produced else "dry run, nothing produced; topic"
        return (
            f"{self.file}: {len(events)} records from {self.rows} rows, "
            f"{len({e.campaign_id for e in events})} campaigns, "
            f"{len(periods)} {'+'.join(kinds)} periods "
            f"{iso(first)} to {iso(end)}, "
            f"spend {', '.join(f'{c} {units(m)}' for c, m in sorted(spend.items()))}, "
            f"report time {iso(self.reported_at)} ({self.report_time_source}); "
            f"{outcome} {topic}"
        )


def load_report(
    path: Path,
    fmt: str,
    options: ImportOptions,
    *,
    reported_at: datetime | None = None,
    limits: Limits | None = None,
    now: datetime | None = None,
) -> SpendImport:
    """Every event of the report at ``path`` in format ``fmt``, validated; or the error."""
    file = str(path)
    spec = FORMATS[fmt]
    try:
        data = path.read_bytes()
        modified_ns = path.stat().st_mtime_ns
    except OSError as exc:
        raise SpendFileError(file, exc.strerror or str(exc)) from None
    if reported_at is None:
        # whole milliseconds: the report time is part of event_id, and wire times are ms
        when = _EPOCH + timedelta(milliseconds=modified_ns // 1_000_000)
        source = FILE_TIME
    else:
        when, source = reported_at.astimezone(UTC), REPORTED_AT_OPTION
    rows = spec.parse(read_table(data, file, spec.layout), options)
    if not rows:
        raise SpendFileError(file, "the report has no data rows")
    events = to_events(
        rows, platform=spec.platform, file=file, reported_at=when,
        limits=limits or Limits(), now=now,
    )  # fmt: skip
    return SpendImport(file, spec.platform, len(rows), tuple(events), when, source)
