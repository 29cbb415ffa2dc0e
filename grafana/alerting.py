"""Grafana-managed alert rules: the second line of defence behind the worker's detectors.

Two rules on ClickHouse, evaluated every minute, one alert instance per campaign (the
query returns one row per campaign: a string label column and one number):
- *conversion drop*: click → lead leads missing in the last hour, in standard
  deviations: (expected - observed) / sqrt(expected), where expected = clicks of the
  hour x the conversion of the 23 hours before; only campaigns expecting at least
  ``MIN_EXPECTED_LEADS`` leads are judged, so quiet segments never page;
- *lead stall*: leads expected since the campaign's last lead (clicks since then x
  the campaign's conversion over the day); no lead while ``STALL_EXPECTED_LEADS`` were
  due has a probability of e^-10 under Poisson noise, so it means a broken form.
Both fire through the notification policy to the contact point (Alertmanager), with a
resolve message when the conversion recovers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from grafana_foundation_sdk.builders import alerting, expr
from grafana_foundation_sdk.models.alerting import RelativeTimeRange

from .chquery import NUMBER, STRING, ClickHouseQuery, table
from .datasources import CLICKHOUSE_UID
from .sql import CLICK, LEAD, WHOLE_CAMPAIGN

FOLDER_UID = "funnelwatch"
FOLDER_TITLE = "funnelwatch"
RULE_GROUP = "funnelwatch-funnel"
INTERVAL_S = 60
RANGE_S = 86400
NOW_WINDOW_S = 3600
MIN_EXPECTED_LEADS = 10
DROP_SIGMAS = 4.0
STALL_EXPECTED_LEADS = 10.0
CONTACT_POINT = "funnelwatch-alertmanager"
CONTACT_POINT_UID = "funnelwatch-alertmanager"
ALERTMANAGER_URL = "http://alertmanager:9093"


@dataclass(frozen=True)
class AlertRule:
    uid: str
    title: str
    query: ClickHouseQuery
    threshold: float
    summary: str
    for_: str = "5m"

    def builder(self) -> alerting.Rule:
        return (
            alerting.Rule(self.title)
            .uid(self.uid)
            .folder_uid(FOLDER_UID)
            .rule_group(RULE_GROUP)
            .org_id(1)
            .condition("C")
            .with_query(
                alerting.Query("A")
                .datasource_uid(CLICKHOUSE_UID)
                .relative_time_range(RelativeTimeRange(from_val=RANGE_S, to=0))
                .model(self.query)
            )
            .with_query(
                alerting.Query("C")
                .datasource_uid("__expr__")
                .model(
                    expr.TypeThreshold()
                    .ref_id("C")
                    .expression("A")
                    .conditions(
                        [
                            expr.ExprTypeThresholdConditions().evaluator(
                                expr.ExprTypeThresholdConditionsEvaluator()
                                .type("gt")
                                .params([self.threshold])
                            )
                        ]
                    )
                )
            )
            .for_val(self.for_)
            .no_data_state("OK")
            .exec_err_state("Error")
            .is_paused(False)
            .labels({"team": "funnelwatch", "severity": "page", "source": "grafana"})
            .annotations(
                {
                    "summary": self.summary,
                    "description": "{{ $labels.campaign }}: value {{ $values.A }} "
                    f"(fires above {self.threshold:g}).",
                }
            )
        )

    def to_json(self) -> dict[str, Any]:
        built: Any = self.builder().build()
        body: dict[str, Any] = _plain(built.to_json())
        return body


def _plain(value: Any) -> Any:
    """SDK models nest objects with to_json; the API and files want plain JSON."""
    if hasattr(value, "to_json"):
        return _plain(value.to_json())
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


_CLICKS_NOW = f"sumIf(events, stage = '{CLICK}' AND minute > $__toTime - {NOW_WINDOW_S})"
_LEADS_NOW = f"sumIf(events, stage = '{LEAD}' AND minute > $__toTime - {NOW_WINDOW_S})"
_CLICKS_BEFORE = f"sumIf(events, stage = '{CLICK}' AND minute <= $__toTime - {NOW_WINDOW_S})"
_LEADS_BEFORE = f"sumIf(events, stage = '{LEAD}' AND minute <= $__toTime - {NOW_WINDOW_S})"

CONVERSION_DROP = AlertRule(
    uid="funnelwatch-conversion-drop",
    title="Click → lead conversion drop",
    query=table(
        f"""
SELECT campaign, (expected - leads_now) / sqrt(expected) AS missing_sigmas
FROM (
    SELECT campaign_id AS campaign, {_LEADS_NOW} AS leads_now,
           {_CLICKS_NOW} * {_LEADS_BEFORE} / {_CLICKS_BEFORE} AS expected
    FROM kpi_minute FINAL
    WHERE {WHOLE_CAMPAIGN} AND $__timeFilter(minute)
    GROUP BY campaign_id
    HAVING {_CLICKS_BEFORE} > 0
)
WHERE expected >= {MIN_EXPECTED_LEADS}
ORDER BY campaign""",
        ("campaign", STRING),
        ("missing_sigmas", NUMBER),
    ),
    threshold=DROP_SIGMAS,
    summary="Click → lead conversion of {{ $labels.campaign }} dropped well below its "
    "baseline in the last hour",
)

LEAD_STALL = AlertRule(
    uid="funnelwatch-lead-stall",
    title="Leads stalled while clicks continue",
    query=table(
        f"""
SELECT campaign, clicks_since_lead * conversion AS missing_leads
FROM (
    SELECT campaign_id AS campaign,
           sumIf(events, stage = '{CLICK}' AND toUInt32(minute) > last_lead) AS clicks_since_lead,
           sumIf(events, stage = '{LEAD}') / sumIf(events, stage = '{CLICK}') AS conversion
    FROM kpi_minute FINAL
    ANY LEFT JOIN (
        SELECT campaign_id, max(toUInt32(minute)) AS last_lead
        FROM kpi_minute FINAL
        WHERE {WHOLE_CAMPAIGN} AND $__timeFilter(minute) AND stage = '{LEAD}' AND events > 0
        GROUP BY campaign_id
    ) AS leads USING campaign_id
    WHERE {WHOLE_CAMPAIGN} AND $__timeFilter(minute)
    GROUP BY campaign_id
    HAVING sumIf(events, stage = '{CLICK}') > 0
)
ORDER BY campaign""",
        ("campaign", STRING),
        ("missing_leads", NUMBER),
    ),
    threshold=STALL_EXPECTED_LEADS,
    summary="{{ $labels.campaign }} gets clicks but no leads: its forms look broken",
    for_="2m",
)

RULES = (CONVERSION_DROP, LEAD_STALL)


def contact_point() -> dict[str, Any]:
    built: Any = (
        alerting.ContactPoint()
        .uid(CONTACT_POINT_UID)
        .name(CONTACT_POINT)
        # Grafana's id of the external Alertmanager integration; the SDK's literal list
        # spells it "alertmanager", which Grafana's provisioning API does not accept.
        .type("prometheus-alertmanager")  # type: ignore[arg-type]
        .settings({"url": ALERTMANAGER_URL})
        .disable_resolve_message(False)
        .build()
    )
    return _plain(built.to_json())  # type: ignore[no-any-return]


def notification_policy() -> dict[str, Any]:
    built: Any = (
        alerting.NotificationPolicy()
        .receiver(CONTACT_POINT)
        .group_by(["grafana_folder", "alertname", "campaign"])
        .group_wait("30s")
        .group_interval("5m")
        .repeat_interval("4h")
        .build()
    )
    return _plain(built.to_json())  # type: ignore[no-any-return]


def alerting_provisioning() -> dict[str, Any]:
    """Grafana's alerting provisioning file: rules, contact point, notification policy."""
    rules = []
    for rule in RULES:
        body = rule.to_json()
        for key in ("folderUID", "ruleGroup", "orgID"):
            body.pop(key, None)  # the group carries them in the file format
        rules.append(body)
    point = contact_point()
    return {
        "apiVersion": 1,
        "groups": [
            {
                "orgId": 1,
                "name": RULE_GROUP,
                "folder": FOLDER_TITLE,
                "interval": f"{INTERVAL_S}s",
                "rules": rules,
            }
        ],
        "contactPoints": [
            {
                "orgId": 1,
                "name": CONTACT_POINT,
                "receivers": [
                    {
                        "uid": point["uid"],
                        "type": point["type"],
                        "settings": point["settings"],
                        "disableResolveMessage": point["disableResolveMessage"],
                    }
                ],
            }
        ],
        "policies": [{"orgId": 1, **notification_policy()}],
    }
