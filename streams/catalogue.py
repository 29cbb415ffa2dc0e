"""The topic catalogue: every Kafka topic funnelwatch reads or writes.

Invariant: every topic that feeds a Faust table has exactly as many partitions as
that table's changelog, so all topics here share ``settings.partitions`` (Faust
raises ``PartitionsMismatch`` otherwise). The catalogue also lists the changelog
topics so they exist, with the right count, before the worker starts.
"""

from __future__ import annotations

from dataclasses import dataclass

from funnelwatch.settings import Settings

DAY_MS = 24 * 3600 * 1000

#: Faust tables of the worker; their changelog topics are ``<app_id>-<table>-changelog``.
TABLES = ("clicks", "waiting_for_click", "leads")


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
    dead_letter: TopicSpec
    by_click: TopicSpec
    by_lead: TopicSpec
    facts: TopicSpec
    alerts: TopicSpec
    bid_recommendations: TopicSpec
    changelogs: tuple[TopicSpec, ...]
    leader: TopicSpec

    @property
    def sources(self) -> tuple[TopicSpec, ...]:
        return (self.clicks, self.forms, self.crm)

    def all(self) -> tuple[TopicSpec, ...]:
        return (
            self.clicks,
            self.forms,
            self.crm,
            self.dead_letter,
            self.by_click,
            self.by_lead,
            self.facts,
            self.alerts,
            self.bid_recommendations,
            *self.changelogs,
            self.leader,
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
        dead_letter=spec("dead-letter", 30, "rejected records with reason headers"),
        by_click=spec("by-click", 7, "internal: clicks and forms keyed by click_id"),
        by_lead=spec("by-lead", 30, "internal: attributed leads and CRM events keyed by lead_id"),
        facts=spec("facts", 7, "internal: attributed funnel facts for the ClickHouse sink"),
        alerts=spec(
            "alerts", 30, "output: alert lifecycle messages (firing, resolved), keyed by alert_id"
        ),
        bid_recommendations=spec(
            "bid-recommendations", 7, "output: bid multipliers per campaign, keyed by campaign_id"
        ),
        changelogs=tuple(
            TopicSpec(f"{settings.app_id}-{t}-changelog", p, 0, compacted=True, purpose="changelog")
            for t in TABLES
        ),
        # Faust's partition assignor elects its leader through this one-partition topic.
        leader=TopicSpec(f"{settings.app_id}-__assignor-__leader", 1, 7 * DAY_MS, purpose="faust"),
    )
