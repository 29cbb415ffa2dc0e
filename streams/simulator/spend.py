"""Simulated spend reports of the ad platforms, as they arrive: late, restated, out of order.

Each campaign's channel decides how its platform reports (see :data:`REPORTING`):
Google Ads hourly per campaign, Microsoft Ads hourly per ad group, Meta Ads daily per
ad set (ad group) in an account time zone of UTC-8; LinkedIn sends none (its clicks'
own cost counts). A period's first report comes a little after the period closes; a
platform restates it later (invalid-click credits lower it a little), sometimes twice;
sometimes the first report is delivered only after its restatement (out of order).

Invariants: reports come from their own seeded ``random.Random``, so turning them on
leaves every draw of the main traffic as it was; a report is never sent before its
own report time (``event_time``), and reports timed after the simulated end are never
sent (the generator drops them): they have not happened yet.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .records import iso_ms

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
#: after a period closes: its first report, a restatement, a second restatement (minutes)
FIRST_REPORT_MIN = (15, 45)
RESTATED_MIN = (45, 150)
RESTATED_AGAIN_MIN = (150, 300)
RESTATE_SHARE, RESTATE_AGAIN_SHARE, OUT_OF_ORDER_SHARE = 0.6, 0.3, 0.25


@dataclass(frozen=True)
class Reporting:
    platform: str
    account_id: str
    period_ms: int
    #: the account's day starts this long after UTC midnight (its time zone)
    day_offset_ms: int
    by_ad_group: bool
    currency: str = "USD"


REPORTING: dict[str, Reporting] = {
    "google": Reporting("google_ads", "123-456-7890", HOUR_MS, 5 * HOUR_MS, False),
    "bing": Reporting("microsoft_ads", "F1234567", HOUR_MS, 0, True),
    "meta": Reporting("meta_ads", "act_1029384756", DAY_MS, 8 * HOUR_MS, True),
}


@dataclass
class _Period:
    spend_micros: int = 0
    clicks: int = 0


Push = Callable[[int, str, dict[str, Any]], None]


class SpendReporter:
    """Collects the clicks' cost per reported period and pushes the reports.

    ``push(send_ms, campaign_id, payload)`` queues one ``ad_spend`` event; event ids are
    ``spend-<tag>-<n>``, numbered apart from the traffic's.
    """

    def __init__(self, seed: int, tag: str, push: Push) -> None:
        self.rng = random.Random(f"funnelwatch-simulator-spend:{seed}")
        self.tag = tag
        self.push = push
        self.ids = 0
        #: (campaign, ad group or "", period start ms, reporting) -> what the platform counted
        self.open: dict[tuple[str, str, int, Reporting], _Period] = {}

    def click(self, t: int, campaign_id: str, channel: str, ad_group_id: str, cost: int) -> None:
        rep = REPORTING.get(channel)
        if rep is None:
            return
        off = rep.day_offset_ms
        start = (t - off) // rep.period_ms * rep.period_ms + off
        key = (campaign_id, ad_group_id if rep.by_ad_group else "", start, rep)
        period = self.open.setdefault(key, _Period())
        period.spend_micros += cost
        period.clicks += 1

    def close_before(self, now_ms: int) -> None:
        """Report every period that ended at or before ``now_ms``."""
        for key in [k for k in self.open if k[2] + k[3].period_ms <= now_ms]:
            self._report(key, self.open.pop(key))

    def _report(self, key: tuple[str, str, int, Reporting], period: _Period) -> None:
        rng = self.rng
        campaign_id, ad_group_id, start, rep = key
        end = start + rep.period_ms
        # the platform's count differs a little from the clicks the pipeline saw
        spend = round(period.spend_micros * rng.uniform(0.97, 1.05), -4)
        clicks = max(0, period.clicks - rng.randrange(0, 1 + period.clicks // 50))
        versions = [(end + rng.randint(*FIRST_REPORT_MIN) * 60_000, spend, clicks)]
        if rng.random() < RESTATE_SHARE:
            credit = rng.uniform(0.95, 0.99)
            versions.append(
                (end + rng.randint(*RESTATED_MIN) * 60_000, round(spend * credit, -4), clicks)
            )
            if rng.random() < RESTATE_AGAIN_SHARE:
                versions.append(
                    (end + rng.randint(*RESTATED_AGAIN_MIN) * 60_000, round(spend * 0.98, -4),
                     max(0, clicks - 1))
                )  # fmt: skip
        sends = [t for t, _, _ in versions]
        if len(versions) > 1 and rng.random() < OUT_OF_ORDER_SHARE:
            sends[0] = sends[1] + rng.randint(1, 10) * 60_000  # the first arrives last
        for (reported_ms, amount, n), send_ms in zip(versions, sends, strict=True):
            self.ids += 1
            payload: dict[str, Any] = {
                "event_type": "ad_spend",
                "event_id": f"spend-{self.tag}-{self.ids}",
                "event_time": iso_ms(reported_ms),
                "schema_version": 1,
            }
            payload.update(
                platform=rep.platform,
                account_id=rep.account_id,
                campaign_id=campaign_id,
                period_start=iso_ms(start),
                period_seconds=rep.period_ms // 1000,
                spend_micros=int(amount),
                currency=rep.currency,
                ad_group_id=ad_group_id,
                clicks=n,
                impressions=n * 23 + rng.randrange(0, 100),
            )
            self.push(send_ms, campaign_id, payload)
