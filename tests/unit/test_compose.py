"""docker-compose.yml parses, mounts files that exist, and agrees with the provisioning,
the monitoring configs and the worker's settings (no Docker engine needed)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from funnelwatch.grafana import build
from funnelwatch.grafana.alerting import ALERTMANAGER_URL
from funnelwatch.grafana.datasources import datasources_provisioning
from funnelwatch.settings import Settings

REPO = Path(__file__).parents[2]


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    return data


def services() -> dict[str, Any]:
    result: dict[str, Any] = compose()["services"]
    return result


def container_ports(service: dict[str, Any]) -> set[int]:
    return {int(str(p).split(":")[-1]) for p in service.get("ports", [])}


def test_every_mounted_host_path_exists_in_the_repository() -> None:
    mounts = 0
    for name, service in services().items():
        for volume in service.get("volumes", []):
            host = volume.split(":")[0]
            assert host.startswith("./"), f"{name}: mount {host} is not a repository path"
            assert (REPO / host).exists(), f"{name}: {host} does not exist"
            mounts += 1
    assert mounts >= 4


def test_built_images_copy_only_what_exists_and_every_package_folder() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    copied = [line.split()[1:-1] for line in dockerfile.splitlines() if line.startswith("COPY ")]
    for sources in copied:
        for source in sources:
            assert (REPO / source).exists(), source
    pyproject = (REPO / "pyproject.toml").read_text()
    package_dir = re.search(r"package-dir = \{(.*)\}", pyproject)
    assert package_dir is not None
    folders = set(re.findall(r'= "(\w+)"', package_dir.group(1)))
    assert folders <= {s for sources in copied for s in sources}
    assert all(s.get("build") == "." for s in services().values() if "build" in s)


def test_funnelwatch_environment_names_are_settings_fields() -> None:
    fields = {f"FUNNELWATCH_{name.upper()}" for name in Settings.model_fields}
    seen = 0
    for name, service in services().items():
        for var in service.get("environment", {}):
            if var.startswith("FUNNELWATCH_"):
                assert var in fields, f"{name}: {var} is no setting"
                seen += 1
    assert seen >= 5


def test_depends_on_conditions_refer_to_health_checks_and_one_shot_jobs() -> None:
    all_services = services()
    for name, service in all_services.items():
        for dependency, spec in service.get("depends_on", {}).items():
            assert dependency in all_services, f"{name} depends on unknown {dependency}"
            if spec["condition"] == "service_healthy":
                assert "healthcheck" in all_services[dependency], dependency
            else:
                assert spec["condition"] == "service_completed_successfully"
                assert all_services[dependency].get("command"), dependency
    for name in ("kafka", "clickhouse", "worker", "prometheus", "alertmanager", "grafana"):
        assert "healthcheck" in all_services[name], name


def test_worker_clickhouse_url_matches_the_grafana_datasource_and_clickhouse_service() -> None:
    s = services()
    url = urlsplit(s["worker"]["environment"]["FUNNELWATCH_CLICKHOUSE_URL"])
    (ds,) = [
        d for d in datasources_provisioning()["datasources"]
        if d["type"] == "grafana-clickhouse-datasource"
    ]  # fmt: skip
    json_data = ds["jsonData"]
    assert (url.scheme, url.hostname, url.port) == (
        "clickhouse",
        json_data["host"],
        json_data["port"],
    )
    assert (
        url.path.lstrip("/")
        == json_data["defaultDatabase"]
        == s["clickhouse"]["environment"]["CLICKHOUSE_DB"]
    )
    assert (
        url.username == json_data["username"] == s["clickhouse"]["environment"]["CLICKHOUSE_USER"]
    )
    assert json_data["port"] in container_ports(s["clickhouse"])
    # the password reaches Grafana from the environment, the same variable as ClickHouse's
    assert ds["secureJsonData"]["password"] == "$CLICKHOUSE_PASSWORD"
    assert "CLICKHOUSE_PASSWORD" in s["grafana"]["environment"]
    # the worker's password is a secret setting of its own, not part of the URL
    assert url.password is None
    assert s["worker"]["environment"]["FUNNELWATCH_CLICKHOUSE_PASSWORD"].startswith(
        "${CLICKHOUSE_PASSWORD"
    )


def test_prometheus_datasource_scrape_target_and_alertmanager_agree_with_the_services() -> None:
    s = services()
    (prom,) = [d for d in datasources_provisioning()["datasources"] if d["type"] == "prometheus"]
    prom_url = urlsplit(prom["url"])
    assert prom_url.hostname in s and prom_url.port in container_ports(s[prom_url.hostname])
    config = yaml.safe_load((REPO / "monitoring/prometheus/prometheus.yml").read_text())
    targets = [t for job in config["scrape_configs"] for sc in job["static_configs"]
               for t in sc["targets"]]  # fmt: skip
    web_port = int(s["worker"]["environment"]["FUNNELWATCH_WEB_PORT"])
    assert f"worker:{web_port}" in targets and web_port in container_ports(s["worker"])
    managers = [t for am in config["alerting"]["alertmanagers"] for sc in am["static_configs"]
                for t in sc["targets"]]  # fmt: skip
    for target in managers:
        host, port = target.split(":")
        assert host in s and int(port) in container_ports(s[host])
    grafana_am = urlsplit(ALERTMANAGER_URL)
    assert grafana_am.hostname in s and grafana_am.port in container_ports(s["alertmanager"])


def test_grafana_mounts_the_provisioning_and_installs_the_clickhouse_plugin() -> None:
    grafana = services()["grafana"]
    assert f"./grafana/provisioning:{build.CONTAINER_PROVISIONING}:ro" in grafana["volumes"]
    plugins = grafana["environment"].get("GF_INSTALL_PLUGINS", "") + grafana["environment"].get(
        "GF_PLUGINS_PREINSTALL", ""
    )
    assert "grafana-clickhouse-datasource" in plugins
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    relative = home.removeprefix(build.CONTAINER_PROVISIONING + "/")
    assert (REPO / "grafana/provisioning" / relative).is_file()
    assert 3000 in container_ports(grafana)


def test_simulator_incident_names_a_campaign_of_the_catalogue() -> None:
    from funnelwatch.streams.simulator.incidents import parse_incident
    from funnelwatch.streams.simulator.model import default_campaigns

    command = services()["simulator"]["command"]
    spec = command[command.index("--incident") + 1]
    assert parse_incident(spec).target in {c.campaign_id for c in default_campaigns()}


def test_every_published_port_listens_on_loopback_unless_told_otherwise() -> None:
    published = 0
    for name, service in services().items():
        for port in service.get("ports", []):
            parts = str(port).rsplit(":", 2)
            # host address, host port, container port: never the bare "host:container" form
            assert len(parts) == 3, f"{name}: {port} publishes on every interface"
            assert parts[0] == "${FUNNELWATCH_PUBLISH_ADDR:-127.0.0.1}", f"{name}: {port}"
            published += 1
    assert published >= 6


def test_worker_secrets_come_from_the_environment_and_api_is_not_open() -> None:
    env = services()["worker"]["environment"]
    for var in ("FUNNELWATCH_CLICKHOUSE_PASSWORD", "FUNNELWATCH_READ_TOKEN"):
        assert str(env[var]).startswith("${"), var  # a reference, never a value in the file
    assert "FUNNELWATCH_WEB_PAGES_ACCESS" in env
