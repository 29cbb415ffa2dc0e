"""The worker's bid advisor: every ``bid_interval_seconds`` it judges each campaign with
a target against ClickHouse and publishes the recommendations.

Invariants: the judged window is ``bid_window_minutes`` ending at the pipeline's
event-time watermark (the newest minute the sink made durable), so replayed history
is judged like live traffic; a campaign is "stalled" while an alert of kind ``stall``
is open for it (the detectors' ``alerts`` table); the advisor keeps each campaign's
last recommendation in memory (a restarted worker starts again from multiplier 1.0,
held by the same minimum interval); each evaluation is published to the
``bid-recommendations`` topic keyed by campaign id, changed or not, so a consumer
always sees a fresh figure.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from funnelwatch.clickhouse import ClickHouse
from funnelwatch.schemas.funnel import Funnel
from funnelwatch.settings import BidTarget, Settings

from .bids import BidPolicy, Observation, Recommendation, recommend
from .spend.sql import parse_row, window_spend
from .web.queries import open_alerts, watermark

_CAMPAIGN_TOTALS = """
SELECT campaign_id, stage, sum(n)
FROM
(
    SELECT minute, campaign_id, stage, argMax(events, version) AS n
    FROM kpi_minute
    WHERE dim = %(dim)s AND dim_value = %(dim)s
      AND minute > toDateTime(%(lo)s) AND minute <= toDateTime(%(end)s)
    GROUP BY minute, campaign_id, stage
)
GROUP BY campaign_id, stage
"""


_WINDOW_SPEND = window_spend("campaign_id != ''", "%(w0)s", "%(w1)s", "%(click)s")


def policy_of(settings: Settings) -> BidPolicy:
    return BidPolicy(
        step=settings.bid_step,
        min_multiplier=settings.bid_min_multiplier,
        max_multiplier=settings.bid_max_multiplier,
        hysteresis=settings.bid_hysteresis,
        min_change_seconds=settings.bid_min_change_seconds,
        min_clicks=settings.bid_min_clicks,
    )


class BidAdvisor:
    def __init__(self, settings: Settings, funnel: Funnel) -> None:
        self.targets: Mapping[str, BidTarget] = settings.bid_targets
        self.window_minutes = settings.bid_window_minutes
        self.policy = policy_of(settings)
        self.funnel = funnel
        self.latest: dict[str, Recommendation] = {}

    def target_of(self, campaign_id: str) -> BidTarget | None:
        return self.targets.get(campaign_id) or self.targets.get("*")

    def evaluate(self, client: ClickHouse, now: float | None = None) -> list[Recommendation]:
        """Judge every campaign with a target; remember and return the recommendations."""
        if not self.targets:
            return []
        now = time.time() if now is None else now
        end = watermark(client)
        rows = client.execute(
            _CAMPAIGN_TOTALS, {"dim": "all", "lo": end - self.window_minutes * 60, "end": end}
        )
        events: dict[str, dict[str, int]] = {}
        for campaign, stage, n in rows:
            events.setdefault(str(campaign), {})[str(stage)] = int(n)
        # the spend that counts: reports, provisional clicks, else the clicks' own cost
        span = {"w0": end - self.window_minutes * 60 + 60, "w1": end + 60}
        spend = {
            s.campaign_id: s.spend_micros
            for s in map(
                parse_row,
                client.execute(_WINDOW_SPEND, {**span, "click": self.funnel.stage_names[0]}),
            )
        }
        stalled = {a["campaign_id"] for a in open_alerts(client) if a["kind"] == "stall"}
        names = self.funnel.stage_names
        campaigns = {c for c in self.targets if c != "*"}
        if "*" in self.targets:
            campaigns |= set(events) | set(self.latest)
        out = []
        for campaign in sorted(campaigns):
            target = self.target_of(campaign)
            assert target is not None
            counts = events.get(campaign, {})
            result_stage = names[1] if target.metric == "cpl" else names[-2]
            rec = recommend(
                campaign,
                target.metric,
                target.target_micros,
                Observation(
                    clicks=counts.get(names[0], 0),
                    results=counts.get(result_stage, 0),
                    spend_micros=spend.get(campaign, 0),
                    stalled=campaign in stalled,
                ),
                self.latest.get(campaign),
                now,
                self.policy,
            )
            self.latest[campaign] = rec
            out.append(rec)
        return out
