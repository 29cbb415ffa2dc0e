"""The hot path's configuration: one frozen object, built once from Settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from funnelwatch.schemas.contracts import Limits
from funnelwatch.schemas.funnel import Funnel
from funnelwatch.schemas.segments import BUILT_IN_SEGMENTS, SegmentSet


@dataclass(frozen=True)
class Topics:
    clicks: str
    forms: str
    crm: str
    #: spend reports: read with the sources, joined with nothing
    spend: str
    by_lead: str
    dead_letter: str
    rollup: str
    #: partitions of every topic above but rollup (the catalogue keeps them equal)
    partitions: int

    @property
    def consumed(self) -> tuple[str, ...]:
        return (self.clicks, self.forms, self.crm, self.spend, self.by_lead)

    @property
    def lead_keyed(self) -> tuple[str, ...]:
        """The topics whose partition p holds the records of the leads partition p owns."""
        return (self.forms, self.crm, self.by_lead)

    def lead_partitions_of(self, partition: int) -> list[tuple[str, int]]:
        return [(topic, partition) for topic in self.lead_keyed]


@dataclass(frozen=True)
class HotPathConfig:
    bootstrap: str
    group_id: str
    topics: Topics
    funnel: Funnel
    limits: Limits
    state_dir: Path
    #: most records in one batch (one checkpoint)
    batch_max_records: int = 50_000
    #: longest a batch waits for records before it is processed
    batch_max_seconds: float = 0.5
    click_cache_size: int = 200_000
    lead_cache_size: int = 50_000
    click_horizon_days: float = 30.0
    lead_horizon_days: float = 180.0
    session_timeout_seconds: float = 10.0
    max_poll_interval_seconds: float = 300.0
    #: longest wait between two attempts to reach ClickHouse or Kafka again
    retry_max_seconds: float = 5.0
    #: the segment dimensions facts are counted under
    segments: SegmentSet = field(default=BUILT_IN_SEGMENTS)

    @property
    def lead_stage(self) -> str:
        return str(self.funnel.stage_names[1])
