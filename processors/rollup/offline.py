"""History written straight to ClickHouse, without Kafka: for tools and tests.

:func:`load_facts` writes facts and derives their KPIs with the very statements the hot
path and the roller run (insert, per-minute recompute, rolling recompute), so tables
loaded this way hold what a worker would have written after draining the same facts.
"""

from __future__ import annotations

from collections.abc import Sequence

from funnelwatch.clickhouse import ClickHouse
from funnelwatch.schemas.funnel import Funnel
from funnelwatch.schemas.segments import BUILT_IN_SEGMENTS, SegmentSet

from ..attribution.facts import Fact, fact_columns
from .progress import after_minutes, read_progress, roll


def load_facts(
    client: ClickHouse,
    facts: Sequence[Fact],
    funnel: Funnel,
    windows: tuple[int, ...],
    segments: SegmentSet = BUILT_IN_SEGMENTS,
) -> None:
    """Write ``facts`` and bring per-minute KPIs and rolling conversions up to date."""
    if not facts:
        return
    client.insert_columns("funnel_facts", fact_columns(facts))
    minutes = {f.minute for f in facts}
    progress = after_minutes(client, read_progress(client), minutes, segments)
    roll(client, funnel, windows, progress)
