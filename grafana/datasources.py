"""The data sources the boards and alert rules read, and their provisioning.

Invariants: the uids here are the only data source uids any panel, variable,
annotation or alert rule refers to; the ClickHouse data source talks the native
protocol to the compose service ``clickhouse`` on 9000 and its password comes from
the environment of the Grafana container (``$CLICKHOUSE_PASSWORD``), never from a file.
"""

from __future__ import annotations

from typing import Any

from grafana_foundation_sdk.models.dashboard import DataSourceRef

CLICKHOUSE_PLUGIN = "grafana-clickhouse-datasource"
CLICKHOUSE_UID = "funnelwatch-clickhouse"
PROMETHEUS_UID = "funnelwatch-prometheus"
#: where the compose stack runs them (docker-compose.yml must agree; a test checks)
CLICKHOUSE_HOST, CLICKHOUSE_NATIVE_PORT = "clickhouse", 9000
CLICKHOUSE_DATABASE, CLICKHOUSE_USER = "funnelwatch", "funnelwatch"
PROMETHEUS_URL = "http://prometheus:9090"

CLICKHOUSE = DataSourceRef(type_val=CLICKHOUSE_PLUGIN, uid=CLICKHOUSE_UID)
PROMETHEUS = DataSourceRef(type_val="prometheus", uid=PROMETHEUS_UID)


def datasources_provisioning() -> dict[str, Any]:
    """Grafana's data source provisioning file (``apiVersion: 1``)."""
    return {
        "apiVersion": 1,
        "datasources": [
            {
                "name": "funnelwatch ClickHouse",
                "type": CLICKHOUSE_PLUGIN,
                "uid": CLICKHOUSE_UID,
                "isDefault": True,
                "editable": False,
                "jsonData": {
                    "host": CLICKHOUSE_HOST,
                    "port": CLICKHOUSE_NATIVE_PORT,
                    "protocol": "native",
                    "secure": False,
                    "username": CLICKHOUSE_USER,
                    "defaultDatabase": CLICKHOUSE_DATABASE,
                },
                # Grafana expands $VAR in provisioning files from its own environment.
                "secureJsonData": {"password": "$CLICKHOUSE_PASSWORD"},
            },
            {
                "name": "funnelwatch Prometheus",
                "type": "prometheus",
                "uid": PROMETHEUS_UID,
                "access": "proxy",
                "url": PROMETHEUS_URL,
                "editable": False,
                "jsonData": {"timeInterval": "15s"},
            },
        ],
    }
