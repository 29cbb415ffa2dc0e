"""The topic catalogue: every Kafka topic funnelwatch reads or writes.

Invariant: the topics the hot path reads (the sources, ``ad-spend`` among them, and
``by-lead``) all have ``settings.partitions`` partitions: the worker owning partition p
of one owns it of all, which is how the records of one lead meet (see
processors/source/placement.py).
The ``rollup`` topic has one partition: its consumer group elects the one roller.
"""

from __future__ import annotations

from dataclasses import dataclass

from funnelwatch.settings import Settings

DAY_MS = 24 * 3600 * 1000


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    retention_ms: int
    compacted: bool = False
    purpose: str = ""

    def configs(self) -> dict[str, str]:
        if self.compacted:
            return {"cleanup.policy": "compact"}
        return {"cleanup.policy": "delete", "retention.ms": str(self.retention_ms)}


@dataclass(frozen=True)
class Catalogue:
    clicks: TopicSpec
    forms: TopicSpec
    crm: TopicSpec
    spend: TopicSpec
    dead_letter: TopicSpec
    by_lead: TopicSpec
    rollup: TopicSpec
    alerts: TopicSpec
    bid_recommendations: TopicSpec

    @property
    def sources(self) -> tuple[TopicSpec, ...]:
        return (self.clicks, self.forms, self.crm, self.spend)

    def all(self) -> tuple[TopicSpec, ...]:
        return (
            self.clicks,
            self.forms,
            self.crm,
            self.spend,
            self.dead_letter,
            self.by_lead,
            self.rollup,
            self.alerts,
            self.bid_recommendations,
        )


def catalogue(settings: Settings) -> Catalogue:
    """The topics for these settings (names carry ``settings.topic_prefix``)."""
    p = settings.partitions

    def spec(name: str, days: int, purpose: str) -> TopicSpec:
        return TopicSpec(settings.topic(name), p, days * DAY_MS, purpose=purpose)

    return Catalogue(
        clicks=spec("ad-clicks", 7, "source: ad_click events, keyed by click_id"),
        forms=spec("form-submissions", 30, "source: form_submission events, keyed by lead_id"),
        crm=spec("crm-events", 30, "source: crm_event events, keyed by lead_id"),
        spend=spec(
            "ad-spend", 30, "source: ad_spend reports of the ad platforms, keyed by campaign_id"
        ),
        dead_letter=spec("dead-letter", 30, "rejected records with reason headers"),
        by_lead=spec(
            "by-lead",
            30,
            "internal: forms and CRM events for their lead's owner, news of late clicks; "
            "keyed by lead_id",
        ),
        rollup=TopicSpec(
            settings.topic("rollup"),
            1,
            7 * DAY_MS,
            purpose="internal: minutes whose KPIs to recompute, for the one roller",
        ),
        alerts=spec(
            "alerts", 30, "output: alert lifecycle messages (firing, resolved), keyed by alert_id"
        ),
        bid_recommendations=spec(
            "bid-recommendations", 7, "output: bid multipliers per campaign, keyed by campaign_id"
        ),
    )
