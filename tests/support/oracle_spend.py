"""The oracle of spend: which cost counts, from the valid events alone.

It shares no code with processors/spend; it applies the rules as the README states
them, in plain Python over the ``ad_spend`` events and the per-minute click counts:
the newest report of each period (report time, then event id), no report counted
where a finer one of its platform account overlaps it, each report spread evenly over
its minutes in integer micros, reported spend up to the campaign's last reported
minute and clicks priced at its recent reported CPC after it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

RECENT_SECONDS = 7 * 86400


@dataclass(frozen=True)
class Report:
    campaign: str
    platform: str
    account: str
    ad_group: str
    ad: str
    start: int  # epoch seconds
    seconds: int
    spend: int
    clicks: int
    currency: str

    @property
    def end(self) -> int:
        return self.start + self.seconds

    def finer_and_overlapping(self, other: Report) -> bool:
        """Is ``other`` (same platform account) finer than this report and overlapping it?"""
        if not (other.start < self.end and self.start < other.end):
            return False
        if other.seconds < self.seconds:
            return True
        if other.seconds != self.seconds or other.start != self.start:
            return False
        if self.ad_group == "":
            return other.ad_group != ""
        return other.ad_group == self.ad_group and self.ad == "" and other.ad != ""

    def share(self, t0: int, t1: int) -> int:
        """Spend of the minutes of [t0, t1): minute i of n holds floor(s(i+1)/n) - floor(si/n)."""
        n = self.seconds // 60
        a = min(max((t0 - self.start) // 60, 0), n)
        b = min(max((t1 - self.start) // 60, 0), n)
        return self.spend * b // n - self.spend * a // n


def _seconds(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp())


def counted_reports(events: Iterable[Mapping[str, Any]]) -> list[Report]:
    """The reports that count, from deduplicated valid events of any type."""
    newest: dict[tuple[Any, ...], tuple[tuple[int, str], Report]] = {}
    for e in events:
        if e["event_type"] != "ad_spend":
            continue
        report = Report(
            e["campaign_id"], e["platform"], e["account_id"], e.get("ad_group_id", ""),
            e.get("ad_id", ""), _seconds(e["period_start"]), e["period_seconds"],
            e["spend_micros"], e.get("clicks", 0), e["currency"],
        )  # fmt: skip
        key = (report.campaign, report.platform, report.account, report.ad_group, report.ad,
               report.start, report.seconds)  # fmt: skip
        rank = (int(datetime.fromisoformat(e["event_time"]).timestamp() * 1000), e["event_id"])
        if key not in newest or rank > newest[key][0]:
            newest[key] = (rank, report)
    reports = [r for _, r in newest.values()]
    return [
        r
        for r in reports
        if not any(
            o.campaign == r.campaign
            and o.platform == r.platform
            and o.account == r.account
            and r.finer_and_overlapping(o)
            for o in reports
        )
    ]


@dataclass(frozen=True)
class SpendWant:
    clicks: int
    click_cost: int
    has_reports: bool
    through: int | None
    reported: int
    provisional: int
    spend: int


def window_spend(
    reports: list[Report],
    clicks: Mapping[tuple[int, str], tuple[int, int]],
    campaign: str,
    t0: int,
    t1: int,
) -> SpendWant:
    """The spend of ``campaign`` in [t0, t1); ``clicks`` maps (minute, campaign) to the
    (clicks, own cost) of the campaign's click stage in that minute."""
    mine = [r for r in reports if r.campaign == campaign]
    minutes = [(m, n, c) for (m, cmp), (n, c) in clicks.items() if cmp == campaign and t0 <= m < t1]
    n_all = sum(n for _, n, _ in minutes)
    cost_all = sum(c for _, _, c in minutes)
    if not mine:
        return SpendWant(n_all, cost_all, False, None, 0, 0, cost_all)
    through = max(r.end for r in mine)
    reported = sum(r.share(t0, t1) for r in mine)
    recent = [r for r in mine if r.end > through - RECENT_SECONDS]
    recent_spend, recent_clicks = sum(r.spend for r in recent), sum(r.clicks for r in recent)
    after = [(n, c) for m, n, c in minutes if m >= through]
    n_after = sum(n for n, _ in after)
    if recent_clicks:
        provisional = n_after * recent_spend // recent_clicks
    else:
        provisional = sum(c for _, c in after)
    return SpendWant(n_all, cost_all, True, through, reported, provisional, reported + provisional)
