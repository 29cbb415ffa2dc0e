"""What the boards show on the simulated form outage, on both backends: the numbers a
campaign manager reads, not only their types."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest

from funnelwatch.clickhouse import ClickHouse
from funnelwatch.grafana import cohorts as cohort_board
from funnelwatch.grafana import drilldown, overview
from funnelwatch.grafana.macros import TimeRange
from funnelwatch.processors.attribution.facts import Fact
from funnelwatch.processors.web.cohorts import cohort_documents, cohort_range, read_all
from funnelwatch.processors.web.queries import watermark
from funnelwatch.schemas.funnel import load_funnel
from tests.integration.grafana.conftest import OUTAGE_CAMPAIGN, OUTAGE_MINUTE, SIMULATION
from tests.support.grafana_queries import expanded, rows
from tests.support.simulated_kpis import simulated_facts

STAGE_NAMES = ("click", "lead", "contacted", "qualified", "won")

pytestmark = pytest.mark.integration
WHOLE = TimeRange.of_seconds(SIMULATION.start, SIMULATION.end, interval_s=300)


def test_totals_count_every_counted_fact_and_all_spend(loaded: ClickHouse) -> None:
    facts = [f for f in simulated_facts(SIMULATION) if f.counted]
    per_stage = Counter(f.stage for f in facts)

    ((click, lead, contacted, qualified, won, spend, *_),) = rows(
        loaded, expanded(overview.TOTALS.sql, WHOLE, {})
    )

    assert (click, lead, contacted, qualified, won) == tuple(
        per_stage[s] for s in ("click", "lead", "contacted", "qualified", "won")
    )
    assert spend == pytest.approx(sum(f.cost_micros for f in facts) / 1e6)


def test_attention_table_puts_the_campaign_with_the_broken_form_first(
    loaded: ClickHouse,
) -> None:
    table = rows(loaded, expanded(overview.ATTENTION.sql, WHOLE, {}))
    by_campaign = {r[0]: r for r in table}

    first = table[0]
    assert first[0] == OUTAGE_CAMPAIGN and first[1] == 1  # its detector alert is open
    assert first[4] < -0.5  # conversion of the last hour fell by more than half
    assert by_campaign["cmp-search-generic"][1] == 0  # its alert resolved


def test_conversion_falls_below_the_band_after_the_outage_and_not_before(
    loaded: ClickHouse,
) -> None:
    # the range starts two hours in: the baseline is the two hours before it
    start = SIMULATION.start + 120 * 60
    time = TimeRange.of_seconds(start, SIMULATION.end, interval_s=600)
    variables = {
        "campaign": OUTAGE_CAMPAIGN,
        "dimension": "channel",
        "value": ["google"],
    }
    series = rows(loaded, expanded(drilldown.CONVERSION_VS_BASELINE.sql, time, variables))

    outage = SIMULATION.start + OUTAGE_MINUTE * 60
    after = [r for r in series if _epoch(r[0]) >= outage]
    before = [r for r in series if _epoch(r[0]) + 600 <= outage]
    assert after and before
    assert all(conversion < low for _, conversion, _, low, _ in after)
    below = [r for r in before if r[1] < r[3]]
    assert len(below) <= 1  # a 3-sigma band: healthy intervals stay inside it
    assert all(0 < base < 0.2 and low < base < high for _, _, base, low, high in series)


def test_the_default_dimension_is_the_campaign_as_a_whole(loaded: ClickHouse) -> None:
    picked = {"campaign": OUTAGE_CAMPAIGN}
    dims = rows(loaded, expanded(drilldown.DIMENSION_VARIABLE.queries[0].sql, WHOLE, picked))

    assert dims[0] == ("all",)
    assert {"channel", "form_type", "landing_page"} <= {d for (d,) in dims}


def test_segment_kpis_of_chosen_values_count_their_facts(loaded: ClickHouse) -> None:
    facts = [
        f
        for f in simulated_facts(SIMULATION)
        if f.counted and f.campaign_id == OUTAGE_CAMPAIGN and _value(f, "device") == "mobile"
    ]
    picked = {"campaign": OUTAGE_CAMPAIGN, "dimension": "device", "value": ["mobile"]}

    ((*counts, spend),) = [
        r[:6] for r in rows(loaded, expanded(drilldown.SEGMENT_KPIS.sql, WHOLE, picked))
    ]

    assert counts == [sum(1 for f in facts if f.stage == s) for s in STAGE_NAMES]
    assert counts[0] > 0 and spend is not None and spend > 0


def test_a_lead_level_dimension_splits_leads_and_has_no_spend(loaded: ClickHouse) -> None:
    leads = Counter(
        _value(f, "form_type")
        for f in simulated_facts(SIMULATION)
        if f.counted and f.campaign_id == OUTAGE_CAMPAIGN and f.stage == "lead"
    )
    picked = {"campaign": OUTAGE_CAMPAIGN, "dimension": "form_type"}
    by_value = rows(loaded, expanded(drilldown.BY_DIMENSION.sql, WHOLE, picked))

    assert {r[0]: r[2] for r in by_value} == dict(leads)
    assert all(r[1] == 0 and r[6] is None for r in by_value)  # no clicks, no spend


def test_click_dimension_values_share_the_campaign_spend(loaded: ClickHouse) -> None:
    picked = {"campaign": OUTAGE_CAMPAIGN, "dimension": "channel"}
    by_value = rows(loaded, expanded(drilldown.BY_DIMENSION.sql, WHOLE, picked))
    whole = rows(loaded, expanded(drilldown.BY_DIMENSION.sql, WHOLE, picked | {"dimension": "all"}))

    ((_, clicks, *_, whole_spend),) = [r[:7] for r in whole]
    assert sum(r[1] for r in by_value) == clicks  # every click has a channel
    # each part is floored to a micro
    assert sum(r[6] for r in by_value) == pytest.approx(whole_spend, abs=1e-6 * len(by_value))


def _value(fact: Fact, dim: str) -> str:
    names, values = fact.dim_names, fact.dim_values
    return values[names.index(dim)] if dim in names else "(unknown)"


def test_annotations_span_the_open_alert_to_the_end_of_the_range(loaded: ClickHouse) -> None:
    found = rows(loaded, expanded(overview.ANNOTATION.sql, WHOLE, {}))
    spans = {text: (_epoch(t), _epoch(end)) for t, end, text, _ in found}

    assert spans["click→lead 0.0% vs 7.4%"] == (
        SIMULATION.start + OUTAGE_MINUTE * 60,
        SIMULATION.end,
    )
    assert spans["stall resolved"] == (SIMULATION.start + 3600, SIMULATION.start + 90 * 60)


def _epoch(value: object) -> int:
    """A DateTime cell as epoch seconds (the native driver returns datetimes, chDB text)."""
    from datetime import UTC, datetime

    if isinstance(value, datetime):
        return int(value.replace(tzinfo=value.tzinfo or UTC).timestamp())
    return int(datetime.fromisoformat(str(value)).replace(tzinfo=UTC).timestamp())


def test_the_cohort_table_shows_the_apis_cohorts_of_the_campaign(loaded: ClickHouse) -> None:
    funnel = load_funnel()
    deadline, maturity = cohort_board.built_in_judging()
    assert not deadline.uniform  # the per-form-type deadlines are part of what is compared
    now = watermark(loaded)
    cohorts = cohort_range(OUTAGE_CAMPAIGN, "all", cohort_board.DAYS, deadline, now, maturity)
    docs = cohort_documents(funnel, cohorts, *read_all(loaded, funnel, cohorts), "USD")
    names = [name for name, _ in cohort_board.COLUMNS]
    table = [
        dict(zip(names, r, strict=True))
        for r in rows(
            loaded, expanded(cohort_board.COHORTS.sql, WHOLE, {"campaign": OUTAGE_CAMPAIGN})
        )
    ]

    assert [r["day"] for r in table] == [
        datetime.fromtimestamp(d["cohort_start"], UTC).strftime("%Y-%m-%d") for d in reversed(docs)
    ]
    with_leads = 0
    for row, doc in zip(table, reversed(docs), strict=True):
        assert {s: row[s] for s in doc["counts"]} == doc["counts"]
        for c in doc["conversions"]:
            assert row[f"{c['from_stage']}_to_{c['to_stage']}"] == _approx(c["rate"])
        assert row["won_maturity"] == _approx(doc["maturity"]["won"])
        assert row["revenue"] == pytest.approx(doc["revenue_micros"] / 1e6)
        assert row["spend"] == pytest.approx(doc["spend_micros"] / 1e6)
        for kpi in ("cpl", "cost_per_qualified", "cac"):
            want = doc["kpis"][f"{kpi}_micros"]
            assert row[kpi] == _approx(None if want is None else want / 1e6)
        assert row["romi"] == _approx(doc["kpis"]["romi"])
        speed = doc["speed_to_lead"]
        assert row["to_contact_median_min"] == _approx(speed["median_minutes"])
        assert row["to_contact_p90_min"] == _approx(speed["p90_minutes"])
        assert row["uncontacted_share"] == _approx(speed["uncontacted_after_within_share"])
        with_leads += doc["counts"]["lead"] > 0
    assert with_leads and any(r["spend"] for r in table)


def _approx(value: float | None) -> object:
    return None if value is None else pytest.approx(value)
