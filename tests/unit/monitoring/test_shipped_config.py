"""The shipped Prometheus and Alertmanager files: valid for the Debian tools, their
rules pass their promtool unit tests, and they speak of metrics the worker exports.

promtool and amtool come with Debian's ``prometheus`` and ``prometheus-alertmanager``
(``make system-deps``); without them these tests fail rather than skip.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml
from prometheus_client import REGISTRY

import funnelwatch.processors.metrics  # noqa: F401  (registers the worker's metrics)
from funnelwatch.localstack.prometheus import WORKER_JOB, deployed_alertmanager_config

ROOT = Path(__file__).resolve().parents[3]
PROMETHEUS_DIR = ROOT / "monitoring" / "prometheus"
RULES = sorted((PROMETHEUS_DIR / "rules").glob("*.yml"))
RULE_TESTS = sorted((PROMETHEUS_DIR / "tests").glob("*.yml"))
ALERTMANAGER_YML = ROOT / "monitoring" / "alertmanager" / "alertmanager.yml"
README = ROOT / "README.md"


def run_tool(*args: str | Path, cwd: Path = ROOT) -> str:
    tool = shutil.which(str(args[0]))
    assert tool, f"{args[0]} is missing: run `make system-deps`"
    done = subprocess.run(
        [tool, *map(str, args[1:])], cwd=cwd, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def all_rules() -> list[dict[str, Any]]:
    return [
        rule
        for path in RULES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
    ]


def worker_series_names() -> set[str]:
    names = set()
    for family in REGISTRY.collect():
        if not family.name.startswith("funnelwatch_"):
            continue
        if family.type == "counter":
            names.add(family.name + "_total")
        elif family.type == "histogram":
            names.update(family.name + suffix for suffix in ("_bucket", "_sum", "_count"))
        else:
            names.add(family.name)
    return names


def test_shipped_prometheus_config_and_rules_pass_promtool_check() -> None:
    assert len(RULES) >= 2
    out = run_tool("promtool", "check", "config", "prometheus.yml", cwd=PROMETHEUS_DIR)
    assert f"{len(RULES)} rule files found" in out
    run_tool("promtool", "check", "rules", *RULES)


def test_shipped_rules_pass_their_promtool_unit_tests() -> None:
    assert RULE_TESTS
    out = run_tool("promtool", "test", "rules", *RULE_TESTS)
    assert out.count("SUCCESS") == len(RULE_TESTS)


def test_every_alert_and_rule_test_covers_each_other() -> None:
    alerts = {r["alert"] for r in all_rules() if "alert" in r}
    tested = {
        case["alertname"]
        for path in RULE_TESTS
        for test in yaml.safe_load(path.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    assert alerts == tested, f"alerts never seen firing in a promtool test: {alerts - tested}"


def test_every_alert_has_severity_component_and_summary() -> None:
    for rule in all_rules():
        if "alert" not in rule:
            continue
        assert rule["labels"]["severity"] in {"page", "warning"}, rule["alert"]
        assert rule["labels"]["component"] in {"pipeline", "funnel"}, rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]


def test_rules_read_only_metrics_the_worker_exports() -> None:
    exported = worker_series_names()
    recorded = {r["record"] for r in all_rules() if "record" in r}
    used = {
        name
        for rule in all_rules()
        for name in re.findall(r"\bfunnelwatch[_:][a-z0-9_:]+", rule["expr"])
    }
    assert used, "the rules read no funnelwatch metric?"
    assert used <= exported | recorded, used - exported - recorded
    assert "funnelwatch_consumer_lag" in used and "funnelwatch_alerts_active" in used


def test_prometheus_scrape_job_is_the_one_the_rules_and_inhibition_key_on() -> None:
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    assert [job["job_name"] for job in config["scrape_configs"]] == [WORKER_JOB]
    down = next(r for r in all_rules() if r.get("alert") == "FunnelwatchWorkerDown")
    assert f'job="{WORKER_JOB}"' in down["expr"]


def test_shipped_alertmanager_config_passes_amtool_check() -> None:
    out = run_tool("amtool", "check-config", ALERTMANAGER_YML)
    assert "SUCCESS" in out


def test_funnel_alerts_are_grouped_by_campaign_and_inhibited_by_a_worker_down() -> None:
    routed = run_tool(
        "amtool",
        "config",
        "routes",
        "test",
        f"--config.file={ALERTMANAGER_YML}",
        "alertname=FunnelConversionAlert",
        "component=funnel",
        "campaign_id=cmp-a",
    )
    assert "funnelwatch-webhook" in routed.splitlines()
    config = yaml.safe_load(ALERTMANAGER_YML.read_text())
    funnel_route = next(
        r for r in config["route"]["routes"] if r["matchers"] == ['component="funnel"']
    )
    assert funnel_route["group_by"] == ["campaign_id"]
    assert config["route"]["repeat_interval"]
    assert config["inhibit_rules"] == [
        {
            "source_matchers": ['alertname="FunnelwatchWorkerDown"'],
            "target_matchers": ['component="funnel"'],
            "equal": ["job"],
        }
    ]
    assert all(w["send_resolved"] for r in config["receivers"] for w in r["webhook_configs"])


def test_a_deployment_overrides_the_webhook_url_and_timings_but_not_the_routing() -> None:
    shipped = yaml.safe_load(ALERTMANAGER_YML.read_text())
    deployed = deployed_alertmanager_config(
        shipped, "http://127.0.0.1:9/hook", {"group_wait": "1s"}
    )
    urls = [w["url"] for r in deployed["receivers"] for w in r["webhook_configs"]]
    assert urls == ["http://127.0.0.1:9/hook"]
    assert deployed["route"]["group_wait"] == "1s"
    assert all(r["group_wait"] == "1s" for r in deployed["route"]["routes"])
    assert deployed["inhibit_rules"] == shipped["inhibit_rules"]
    assert shipped["receivers"][0]["webhook_configs"][0]["url"].endswith(".invalid/alertmanager")


def _readme_monitoring() -> str:
    text = README.read_text()
    start = text.index("## Monitoring")
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else None]


def test_readme_lists_every_worker_metric_and_alert() -> None:
    section = _readme_monitoring()
    for name in worker_series_names():
        if name.endswith(("_sum", "_count")):
            continue
        base = name.removesuffix("_bucket")
        assert f"`{base}" in section, f"README Monitoring does not list {base}"
    for rule in all_rules():
        if "alert" in rule:
            assert rule["alert"] in section, f"README Monitoring does not list {rule['alert']}"


def test_readme_receiver_examples_are_valid_alertmanager_config(tmp_path: Path) -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", _readme_monitoring(), flags=re.S)
    examples = [yaml.safe_load(b) for b in blocks if "receivers:" in b]
    assert len(examples) >= 2, "expected the Slack and PagerDuty examples"
    shipped = yaml.safe_load(ALERTMANAGER_YML.read_text())
    for i, example in enumerate(examples):
        config = {**shipped, **example}
        path = tmp_path / f"example{i}.yml"
        for receiver in example["receivers"]:
            for key in ("api_url_file", "routing_key_file", "service_key_file"):
                for sub in receiver.get("slack_configs", []) + receiver.get(
                    "pagerduty_configs", []
                ):
                    if key in sub:  # amtool opens secret files: give it one
                        secret = tmp_path / Path(sub[key]).name
                        secret.write_text("https://hooks.example.invalid/x\n")
                        sub[key] = str(secret)
        path.write_text(yaml.safe_dump(config))
        run_tool("amtool", "check-config", path)


def test_docker_compose_runs_the_shipped_files_against_its_worker() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    prometheus_mounts = compose["prometheus"]["volumes"]
    assert "./monitoring/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in (
        prometheus_mounts
    )
    # rule_files are relative to prometheus.yml: rules/ must sit next to it
    assert "./monitoring/prometheus/rules:/etc/prometheus/rules:ro" in prometheus_mounts
    assert (
        "./monitoring/alertmanager/alertmanager.yml:/etc/alertmanager/alertmanager.yml:ro"
        in compose["alertmanager"]["volumes"]
    )
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    [target] = config["scrape_configs"][0]["static_configs"][0]["targets"]
    port = compose["worker"]["environment"]["FUNNELWATCH_WEB_PORT"]
    assert target == f"worker:{port}"
    [alertmanager] = config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert alertmanager == "alertmanager:9093"
