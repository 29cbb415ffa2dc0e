"""The Grafana-managed alert rules' queries on simulator data, on both backends.

Evaluated as Grafana does: the rule's relative range ending at the evaluation time,
macros expanded, then the threshold of the rule's condition applied per row (one
alert instance per campaign). At the end of the simulation the forms of
cmp-search-brand have been broken for 40 minutes: both rules fire for it and for no
other campaign. Evaluated ten minutes before the outage, nothing fires.
"""

from __future__ import annotations

import pytest

from funnelwatch.clickhouse import ClickHouse
from funnelwatch.grafana.alerting import RANGE_S, RULES, AlertRule
from funnelwatch.grafana.macros import TimeRange
from tests.integration.grafana.conftest import OUTAGE_CAMPAIGN, OUTAGE_MINUTE, SIMULATION
from tests.support.grafana_queries import columns, expanded, kind_of, rows

pytestmark = pytest.mark.integration


def evaluate(client: ClickHouse, rule: AlertRule, at: int) -> dict[str, float]:
    sql = expanded(rule.query.sql, TimeRange.of_seconds(at - RANGE_S, at), {})
    described = columns(client, sql)
    assert [(n, kind_of(t)) for n, t in described] == list(rule.query.columns)
    return {str(campaign): float(value) for campaign, value in rows(client, sql)}


@pytest.mark.parametrize("rule", RULES, ids=[r.uid for r in RULES])
def test_rule_fires_for_the_campaign_whose_forms_broke_and_no_other(
    loaded: ClickHouse, rule: AlertRule
) -> None:
    values = evaluate(loaded, rule, SIMULATION.end)

    firing = {c for c, v in values.items() if v > rule.threshold}
    assert firing == {OUTAGE_CAMPAIGN}, values
    assert len(values) >= 6  # the other campaigns were judged, with normal values


@pytest.mark.parametrize("rule", RULES, ids=[r.uid for r in RULES])
def test_rule_stays_normal_on_traffic_without_an_outage(
    loaded: ClickHouse, rule: AlertRule
) -> None:
    values = evaluate(loaded, rule, SIMULATION.start + (OUTAGE_MINUTE - 10) * 60)

    assert values, "no campaign was judged"
    assert max(values.values()) <= rule.threshold, values
