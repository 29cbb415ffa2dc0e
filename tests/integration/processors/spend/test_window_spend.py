"""The spend that counts, as the one SQL definition computes it on both ClickHouse
backends, equals the oracle's on random reports: restated (equal report times too),
hourly and daily in one account, campaign, ad-group and ad levels, in and beyond the
window, and clicks before and after the last report."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from funnelwatch.processors.spend.reports import SpendRow, write_spend
from funnelwatch.processors.spend.sql import parse_row, window_spend
from funnelwatch.schemas.migrate import migrate
from tests.support.clickhouse import drop_database, fresh_database
from tests.support.oracle_spend import counted_reports
from tests.support.oracle_spend import window_spend as oracle_window_spend

pytestmark = pytest.mark.integration

DAY0 = 1_764_547_200  # 2025-12-01T00:00Z
CAMPAIGNS = ("A", "B", "C", "D")


def _iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat()


def _random_reports(rng: random.Random) -> list[dict[str, object]]:
    events: list[dict[str, object]] = []
    for _ in range(400):
        campaign = rng.choice(CAMPAIGNS[:3])  # D has clicks only
        daily = rng.random() < 0.25
        seconds = 86400 if daily else 3600
        offset = rng.choice((0, 5 * 3600)) if daily else 0  # a day on the account's clock
        start = DAY0 + offset + rng.randrange(3 if daily else 72) * seconds
        level = rng.random()
        group = "" if level < 0.4 else rng.choice(("g1", "g2"))
        ad = rng.choice(("a1", "a2")) if group and level > 0.8 else ""
        events.append(
            {
                "event_type": "ad_spend",
                "event_id": f"s{rng.randrange(10**6):06d}",
                # few report times: equal ones meet and the event id decides
                "event_time": _iso(start + seconds + 600 * rng.randrange(1, 4)),
                "platform": rng.choice(("google_ads", "microsoft_ads")),
                "account_id": "acc",
                "campaign_id": campaign,
                "ad_group_id": group,
                "ad_id": ad,
                "period_start": _iso(start),
                "period_seconds": seconds,
                "spend_micros": rng.randrange(0, 5_000_000_000),
                "clicks": rng.randrange(0, 400) if rng.random() < 0.9 else 0,
                "currency": "USD",
            }
        )
    return events


def _row(e: dict[str, object], offset: int) -> SpendRow:
    def s(name: str) -> str:
        return str(e[name])

    return SpendRow(
        s("campaign_id"), s("platform"), s("account_id"), s("ad_group_id"), s("ad_id"),
        int(datetime.fromisoformat(s("period_start")).timestamp()), int(s("period_seconds")),
        int(datetime.fromisoformat(s("event_time")).timestamp() * 1000), s("event_id"),
        int(s("spend_micros")), s("currency"), int(s("clicks")), 0, "spend", 0, offset,
    )  # fmt: skip


def test_the_spend_of_random_windows_equals_the_oracle(clickhouse_url: str) -> None:
    rng = random.Random(11)
    events = _random_reports(rng)
    clicks = {
        (DAY0 + 60 * m, c): (rng.randrange(1, 9), rng.randrange(0, 9_000_000))
        for c in CAMPAIGNS
        for m in rng.sample(range(4 * 1440), 900)
    }
    client = fresh_database(clickhouse_url, "spend_windows")
    try:
        migrate(client)
        write_spend(client, [_row(e, i) for i, e in enumerate(events)])
        # a report delivered twice is one report
        write_spend(client, [_row(e, i) for i, e in enumerate(events[:50])])
        keys = list(clicks)
        client.insert_columns(
            "kpi_minute",
            {
                "minute": [m for m, _ in keys],
                "campaign_id": [c for _, c in keys],
                "dim": ["all"] * len(keys),
                "dim_value": ["all"] * len(keys),
                "stage": ["click"] * len(keys),
                "events": [clicks[k][0] for k in keys],
                "cost_micros": [clicks[k][1] for k in keys],
                "revenue_micros": [0] * len(keys),
                "version": [1] * len(keys),
            },
        )
        counted = counted_reports(events)
        periods = {
            tuple(e[k] for k in ("campaign_id", "platform", "ad_group_id", "ad_id",
                                 "period_start", "period_seconds"))
            for e in events
        }  # fmt: skip
        assert len(periods) < len(events)  # restatements occur
        assert len(counted) < len(periods)  # so do finer reports over coarser ones
        sql = window_spend("campaign_id != ''", "%(w0)s", "%(w1)s", "%(click)s")
        compared = provisional = 0
        for _ in range(25):
            t0 = DAY0 + 60 * rng.randrange(5 * 1440)
            t1 = t0 + 60 * rng.choice((15, 60, 1440, 2 * 1440))
            got = {
                r.campaign_id: r
                for r in map(parse_row, client.execute(sql, {"w0": t0, "w1": t1, "click": "click"}))
            }
            for campaign in CAMPAIGNS:
                want = oracle_window_spend(counted, clicks, campaign, t0, t1)
                row = got.get(campaign)
                if row is None:  # no clicks and no reports of it at all
                    assert want.spend == 0 and want.clicks == 0 and not want.has_reports
                    continue
                assert (
                    row.clicks, row.click_cost_micros, row.has_reports, row.reported_through,
                    row.reported_micros, row.provisional_micros, row.spend_micros,
                ) == (
                    want.clicks, want.click_cost, want.has_reports, want.through,
                    want.reported, want.provisional, want.spend,
                ), (campaign, t0, t1)  # fmt: skip
                compared += 1
                provisional += row.provisional_micros > 0
        assert compared >= 80 and provisional >= 5  # the cases do occur
    finally:
        client.close()
        drop_database(clickhouse_url, "spend_windows")


def test_a_segments_part_in_sql_equals_the_python_definition(clickhouse_url: str) -> None:
    from funnelwatch.clickhouse import connect
    from funnelwatch.processors.spend.sql import WindowSpend, segment_share

    rng = random.Random(3)
    client = connect(clickhouse_url)
    try:
        for _ in range(30):
            has = rng.random() < 0.7
            clicks = rng.choice((0, rng.randrange(1, 10**6)))
            seg = rng.randrange(0, clicks + 1)
            spend, own = rng.randrange(10**12), rng.randrange(10**9)
            row = WindowSpend("A", clicks, 0, has, None, 0, 0, spend, (), "reported")
            sql = segment_share("%(spend)s", "%(seg)s", "%(clicks)s", "%(own)s", "%(has)s")
            params = {"spend": spend, "seg": seg, "clicks": clicks, "own": own, "has": int(has)}
            (got,) = client.execute(f"SELECT toInt64({sql})", params)[0]
            assert int(str(got)) == row.segment_spend(seg, own)
    finally:
        client.close()
