"""Rows -> events: deterministic ids, validation against the contract, one event per row."""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path

import pytest

from funnelwatch.connectors.spend.importer import FILE_TIME, REPORTED_AT_OPTION
from funnelwatch.connectors.spend.model import SpendFileError
from funnelwatch.schemas.contracts import validate_raw

from .support import NOW, REPORTED_AT, SAMPLES, load

TEXT = "Campaign ID,Ad group ID,Day,Cost,Currency code\n1,2,2025-06-01,1.50,EUR\n"


def test_the_same_file_and_report_time_give_the_same_event_ids() -> None:
    sample = SAMPLES / "google_ads_hourly.csv"
    first = load(sample, "google_ads", account="1")
    again = load(sample, "google_ads", account="1")
    later = load(sample, "google_ads", account="1", reported_at=REPORTED_AT + timedelta(hours=1))
    ids = [e.event_id for e in first.events]
    assert ids == [e.event_id for e in again.events]
    assert len(set(ids)) == len(ids) == 12
    # a later report of the same periods is a new event (it replaces the earlier)
    assert not set(ids) & {e.event_id for e in later.events}
    assert {e.event_time for e in later.events} == {REPORTED_AT + timedelta(hours=1)}


def test_each_account_ad_group_and_ad_is_part_of_the_id(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text(TEXT)
    base = load(path, "google_ads", account="1").events[0].event_id
    assert base != load(path, "google_ads", account="2").events[0].event_id
    path.write_text(TEXT.replace("1,2,", "1,3,"))
    assert base != load(path, "google_ads", account="1").events[0].event_id


def test_records_are_keyed_by_campaign_and_pass_the_pipelines_validation() -> None:
    report = load(SAMPLES / "meta_ads_daily.csv", "meta_ads")
    records = list(report.records())
    assert [key for key, _ in records] == [e.campaign_id.encode() for e in report.events]
    for (_, value), event in zip(records, report.events, strict=True):
        assert validate_raw(value, now=NOW) == event


def test_the_same_row_twice_is_one_event(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text(TEXT + TEXT.splitlines()[1] + "\n")
    report = load(path, "google_ads", account="1")
    assert (report.rows, len(report.events)) == (2, 1)


def test_a_contract_violation_is_reported_on_its_column(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text(TEXT.replace("2025-06-01", "2026-01-11"))  # after the report time
    with pytest.raises(SpendFileError) as caught:
        load(path, "google_ads", account="1")
    assert str(caught.value) == (
        f'{path}: row 2, column "Day": schema: period_start: 2026-01-11T00:00:00+00:00 is '
        "after the report's event_time 2026-01-10T08:00:00+00:00"
    )


def test_a_report_time_the_contract_refuses_is_one_error_for_the_file(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text(TEXT)
    with pytest.raises(SpendFileError) as caught:
        load(path, "google_ads", account="1", reported_at=NOW + timedelta(hours=1))
    assert str(caught.value).startswith(
        f"{path}: the report time 2026-01-10T10:00:00Z is refused by the contract: "
        "future_event_time"
    )


def test_the_report_time_is_the_option_else_the_files_modification_time(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text(TEXT)
    modified = REPORTED_AT - timedelta(minutes=5, microseconds=123_456)
    os.utime(path, ns=(0, int(modified.timestamp() * 1e6) * 1000))
    by_file = load(path, "google_ads", account="1", reported_at=None)
    # to the millisecond
    assert by_file.reported_at == modified.replace(microsecond=876_000)
    assert by_file.report_time_source == FILE_TIME
    assert load(path, "google_ads", account="1").report_time_source == REPORTED_AT_OPTION


def test_the_summary_line_tells_rows_campaigns_periods_spend_time_and_topic() -> None:
    report = load(SAMPLES / "google_ads_hourly.csv", "google_ads", timezone="Europe/Berlin",
                  account="1")  # fmt: skip
    assert report.summary("fw.ad-spend", produced=True) == (
        f"{SAMPLES / 'google_ads_hourly.csv'}: 12 records from 12 rows, 3 campaigns, "
        "3 hourly periods 2025-06-02T07:00:00Z to 2025-06-02T10:00:00Z, spend EUR 1,856.99, "
        "report time 2026-01-10T08:00:00Z (--reported-at); produced to fw.ad-spend"
    )


def test_a_file_without_data_rows_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text(TEXT.splitlines()[0] + "\n")
    with pytest.raises(
        SpendFileError, match=f"^{re.escape(str(path))}: the report has no data rows$"
    ):
        load(path, "google_ads", account="1")
