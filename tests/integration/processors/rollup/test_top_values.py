"""A dimension's cardinality is bounded (both backends): per minute, campaign and
dimension only the top N values by events are counted apart, the rest as ``(other)``,
so 50,000 distinct keywords keep kpi_minute at most (N + 1) rows per campaign, stage
and minute, and nothing is lost: each minute's keyword rows sum to the campaign's."""

from __future__ import annotations

import random
from collections import Counter, defaultdict

import pytest

from funnelwatch.clickhouse import ClickHouse
from funnelwatch.processors.attribution.facts import Fact
from funnelwatch.processors.rollup.offline import load_facts
from funnelwatch.schemas.funnel import load_funnel
from funnelwatch.schemas.segments import OTHER, parse_segments
from tests.integration.processors.rollup.tables import kpi_rows
from tests.support.clickhouse import BASE, fact

pytestmark = pytest.mark.integration

TOP = 20
SEGMENTS = parse_segments({"top_values": 5, "dimensions": [
    {"name": "channel", "click": "channel"},
    {"name": "keyword", "click": "keyword", "form": "utm_term", "top": TOP},
]})  # fmt: skip
CAMPAIGNS = ("A", "B", "C")
MINUTES = 10
KEYWORDS = 50_000


def keyword_facts() -> list[Fact]:
    """50,000 clicks, each with its own keyword, plus a few keywords clicked often (which
    must keep rows of their own), spread over three campaigns and ten minutes."""
    rng = random.Random(13)
    facts = []
    for i in range(KEYWORDS):
        facts.append(fact(i, "click", i % MINUTES, campaign=CAMPAIGNS[i % 3], cost_micros=10_000,
                          segments={"channel": "google", "keyword": f"kw-{i:05d}"}))  # fmt: skip
    for j in range(3000):
        popular = f"popular-{rng.randrange(8)}"
        facts.append(fact(KEYWORDS + j, "click", j % MINUTES, campaign=CAMPAIGNS[j % 3],
                          cost_micros=20_000,
                          segments={"channel": "google", "keyword": popular}))  # fmt: skip
    return facts


def test_fifty_thousand_keywords_keep_at_most_top_n_plus_one_rows_a_minute(
    client: ClickHouse,
) -> None:
    facts = keyword_facts()
    load_facts(client, facts, load_funnel(), (15,), SEGMENTS)
    rows = {k: v for k, v in kpi_rows(client).items() if v[0] > 0}
    per_minute: Counter[tuple[int, str]] = Counter(
        (m, stage) for (m, _, dim, _, stage) in rows if dim == "keyword"
    )
    assert len(per_minute) == MINUTES
    assert max(per_minute.values()) <= (TOP + 1) * len(CAMPAIGNS)
    # nothing lost: per minute and campaign the keyword rows add up to the campaign's
    totals: dict[tuple[int, str, str], list[int]] = defaultdict(lambda: [0, 0])
    for (m, campaign, dim, _, _), (n, cost, _) in rows.items():
        key = (m, campaign, "keyword" if dim == "keyword" else dim)
        totals[key][0] += n
        totals[key][1] += cost
    for (m, campaign, dim), sums in totals.items():
        if dim == "keyword":
            assert sums == totals[(m, campaign, "all")]
    # the kept values are the busiest of their minute (ties by value), the rest (other)
    clicks: dict[tuple[int, str], Counter[str]] = defaultdict(Counter)
    for f in facts:
        clicks[(f.minute, f.campaign_id)][f.dim_values[1]] += 1
    for (m, campaign), by_keyword in clicks.items():
        ranked = sorted(by_keyword, key=lambda v: (-by_keyword[v], v))
        kept = {v for (mm, c, dim, v, _) in rows if (mm, c, dim) == (m, campaign, "keyword")}
        assert kept == {*ranked[:TOP], OTHER}
        other = sum(by_keyword[v] for v in ranked[TOP:])
        assert rows[(m, campaign, "keyword", OTHER, "click")][0] == other
    # a dimension with few values is not cut
    channels = {v for (_, _, dim, v, _) in rows if dim == "channel"}
    assert channels == {"google"}


def test_a_value_that_falls_out_of_the_top_n_moves_to_other_when_its_minute_is_recomputed(
    client: ClickHouse,
) -> None:
    minute = BASE
    seg = parse_segments({"dimensions": [{"name": "keyword", "click": "keyword", "top": 1}]})
    first = [fact(1, "click", 0, segments={"keyword": "a"}),
             fact(2, "click", 0, segments={"keyword": "b"})]  # fmt: skip
    load_facts(client, first, load_funnel(), (15,), seg)
    kept = {v for (_, _, d, v, _), (n, _, _) in kpi_rows(client).items() if d == "keyword" and n}
    assert kept == {"a", OTHER}  # a tie: the smaller value ranks first
    more = [fact(3, "click", 0, segments={"keyword": "b"})]
    load_facts(client, more, load_funnel(), (15,), seg)
    rows = {k: v[0] for k, v in kpi_rows(client).items() if k[2] == "keyword" and v[0]}
    assert rows == {(minute, "A", "keyword", "b", "click"): 2,
                    (minute, "A", "keyword", OTHER, "click"): 1}  # fmt: skip
