"""Throwaway Prometheus and Alertmanager servers from Debian's packages.

Debian bookworm ships Prometheus 2.42 (package ``prometheus``: binaries ``prometheus``
and ``promtool``) and Alertmanager 0.25 (package ``prometheus-alertmanager``: binaries
``prometheus-alertmanager`` and ``amtool``). Installing them as root in a container
does not start their services: Debian's ``policy-rc.d`` or the missing systemd keeps
them stopped, and nothing here relies on them; each object below runs its own process.

Invariants (as for the rest of the local stack):
- Each server listens on 127.0.0.1 only, on a free port, and writes its config, data,
  log and pidfile under its home; a home this object created is removed on stop.
- :meth:`start` returns once ``/-/ready`` answers 200, or raises with the log's tail and
  leaves no process behind.
- Each server runs in its own process group; stop() sends SIGTERM, then SIGKILL.
- Alertmanager runs without clustering (no gossip port): two test runs never meet.

:class:`LocalPrometheus` writes its own ``prometheus.yml`` (one scrape job for the given
targets, the given rule files, the given Alertmanagers, short intervals for tests).
:class:`LocalAlertmanager` runs a given ``alertmanager.yml`` — the shipped one in tests —
with every webhook URL replaced by the one given, as a deployment would.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from .clickhouse_server import LocalClickHouseError, ensure_debian_packages
from .ports import free_port
from .process import ServerProcess

#: The scrape job of the worker: the shipped rules (``up{job="funnelwatch"}``) and the
#: Alertmanager inhibit rule (``equal: [job]``) key on this name.
WORKER_JOB = "funnelwatch"


class LocalMonitoringError(RuntimeError):
    """A local Prometheus or Alertmanager could not be installed, started or reached."""


def http_json(url: str, body: Any = None, timeout: float = 5.0) -> Any:
    """GET (or POST ``body`` as JSON to) ``url`` and decode the JSON answer."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="GET" if data is None else "POST")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        raw = response.read()
    return json.loads(raw) if raw else None


POLICY_RC_D = Path("/usr/sbin/policy-rc.d")


@contextlib.contextmanager
def no_service_starts() -> Iterator[None]:
    """While installing: Debian's postinst of both packages runs ``invoke-rc.d ... start``.

    In a container without systemd that could start a second server on the default port
    or fail the install; ``policy-rc.d`` exiting 101 is Debian's way to say "no service
    starts". One that exists already (Docker images ship one) is left alone.
    """
    if POLICY_RC_D.exists() or os.geteuid() != 0:  # not root: apt-get is refused anyway
        yield
        return
    POLICY_RC_D.write_text("#!/bin/sh\n# funnelwatch: no service starts on install\nexit 101\n")
    POLICY_RC_D.chmod(0o755)
    try:
        yield
    finally:
        POLICY_RC_D.unlink(missing_ok=True)


class _LocalDaemon(ServerProcess):
    """One server process on a free loopback port, its state under ``home``."""

    #: Debian package and binary name; subclasses set them.
    package = ""
    binary = ""
    start_error = LocalMonitoringError

    def __init__(self, home: Path | None) -> None:
        super().__init__(home, f"funnelwatch-{self.binary}-")
        self.port = 0

    @property
    def main_port(self) -> int:
        return self.port

    @property
    def name(self) -> str:
        return self.binary

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_file(self) -> Path:
        return self.home / f"{self.binary}.log"

    @property
    def start_log(self) -> Path:
        return self.log_file

    @property
    def pid_file(self) -> Path:
        return self.home / f"{self.binary}.pid"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def install(self, log: Callable[[str], None] = print) -> str:
        """The binary's path, installing the Debian package first if it is missing."""
        path = shutil.which(self.binary)
        if path is None:
            try:
                with no_service_starts():
                    ensure_debian_packages([self.package], log)
            except LocalClickHouseError as exc:  # the apt helper's error type
                raise LocalMonitoringError(str(exc)) from exc
            path = shutil.which(self.binary)
        if path is None:
            raise LocalMonitoringError(f"{self.package} is installed but `{self.binary}` is not")
        return path

    def _write_config(self) -> list[str]:
        """Write the config under home; return the server's arguments."""
        raise NotImplementedError

    def start(self, timeout: float = 30.0) -> float:
        """Configure, launch and wait for ``/-/ready``; returns the seconds it took."""
        if self._proc is not None and self._proc.poll() is None:
            raise LocalMonitoringError(f"{self.binary} already runs (pid {self._proc.pid})")
        binary = self.install()
        started = time.monotonic()
        self.home.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        args = self._write_config()
        proc = self._launch([binary, *args], self.log_file)
        self.pid_file.write_text(f"{proc.pid}\n")
        return self._await_ready(started, timeout)

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def _terminate(self, timeout: float) -> None:
        super()._terminate(timeout)
        self.pid_file.unlink(missing_ok=True)


class LocalPrometheus(_LocalDaemon):
    """Prometheus scraping ``targets`` (job ``funnelwatch``) with the given rule files.

    ``alertmanagers`` are ``host:port`` addresses alerts go to. Intervals default to one
    second, so a test sees a rule change state within seconds.
    """

    package = "prometheus"
    binary = "prometheus"

    def __init__(
        self,
        targets: Sequence[str],
        rule_files: Sequence[Path] = (),
        alertmanagers: Sequence[str] = (),
        *,
        home: Path | None = None,
        job: str = WORKER_JOB,
        scrape_interval: str = "1s",
        evaluation_interval: str = "1s",
    ) -> None:
        super().__init__(home)
        self.targets = list(targets)
        self.rule_files = [Path(p).absolute() for p in rule_files]
        self.alertmanagers = list(alertmanagers)
        self.job = job
        self.scrape_interval = scrape_interval
        self.evaluation_interval = evaluation_interval

    def config(self) -> dict[str, Any]:
        """The generated ``prometheus.yml``, as data."""
        config: dict[str, Any] = {
            "global": {
                "scrape_interval": self.scrape_interval,
                # the timeout may not exceed the interval (default 10s)
                "scrape_timeout": self.scrape_interval,
                "evaluation_interval": self.evaluation_interval,
            },
            "rule_files": [str(p) for p in self.rule_files],
            "scrape_configs": [
                {"job_name": self.job, "static_configs": [{"targets": self.targets}]}
            ],
        }
        if self.alertmanagers:
            config["alerting"] = {
                "alertmanagers": [{"static_configs": [{"targets": self.alertmanagers}]}]
            }
        return config

    def _write_config(self) -> list[str]:
        config_file = self.home / "prometheus.yml"
        config_file.write_text(yaml.safe_dump(self.config(), sort_keys=False))
        return [
            f"--config.file={config_file}",
            f"--storage.tsdb.path={self.home / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            # firing alerts are re-sent this often (default 1m): a test need not wait
            f"--rules.alert.resend-delay={self.evaluation_interval}",
            "--log.level=warn",
        ]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """The instant vector of ``expr`` now: ``[{"metric": {...}, "value": [t, "v"]}]``."""
        url = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        answer = http_json(url)
        if answer.get("status") != "success":
            raise LocalMonitoringError(f"query {expr!r} failed: {answer}")
        result: list[dict[str, Any]] = answer["data"]["result"]
        return result

    def alerts(self) -> list[dict[str, Any]]:
        """Alerts pending or firing now (``/api/v1/alerts``)."""
        result: list[dict[str, Any]] = http_json(f"{self.url}/api/v1/alerts")["data"]["alerts"]
        return result


#: route timing keys that :class:`LocalAlertmanager` may shorten for tests
ROUTE_TIMINGS = ("group_wait", "group_interval", "repeat_interval")


def _retime(route: dict[str, Any], timings: Mapping[str, str]) -> None:
    route.update(timings)
    for child in route.get("routes", []):
        _retime(child, timings)


def deployed_alertmanager_config(
    config: Mapping[str, Any], webhook_url: str | None, timings: Mapping[str, str]
) -> dict[str, Any]:
    """``config`` with every webhook URL set to ``webhook_url`` and route timings replaced.

    Routing, grouping, receivers and inhibit rules stay as they are.
    """
    unknown = set(timings) - set(ROUTE_TIMINGS)
    if unknown:
        raise ValueError(f"not a route timing: {sorted(unknown)}")
    deployed: dict[str, Any] = json.loads(json.dumps(config))  # a deep copy of plain data
    if webhook_url is not None:
        for receiver in deployed.get("receivers", []):
            for webhook in receiver.get("webhook_configs", []):
                webhook["url"] = webhook_url
    if timings:
        _retime(deployed["route"], timings)
    return deployed


class LocalAlertmanager(_LocalDaemon):
    """Alertmanager running ``config_file`` with its webhooks pointed at ``webhook_url``.

    ``timings`` sets route timings (``group_wait``, ``group_interval``,
    ``repeat_interval``) in every route, so a test need not wait minutes; everything
    else of the config (routing, grouping, receivers, inhibit rules) is used as it is.
    """

    package = "prometheus-alertmanager"
    binary = "prometheus-alertmanager"

    def __init__(
        self,
        config_file: Path,
        webhook_url: str | None = None,
        *,
        home: Path | None = None,
        timings: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(home)
        self.config_file = Path(config_file)
        self.webhook_url = webhook_url
        self.timings = dict(timings or {})

    @property
    def address(self) -> str:
        """``host:port``, as Prometheus's alerting config wants it."""
        return f"127.0.0.1:{self.port}"

    def _write_config(self) -> list[str]:
        shipped = yaml.safe_load(self.config_file.read_text())
        config_file = self.home / "alertmanager.yml"
        deployed = deployed_alertmanager_config(shipped, self.webhook_url, self.timings)
        config_file.write_text(yaml.safe_dump(deployed, sort_keys=False))
        return [
            f"--config.file={config_file}",
            f"--storage.path={self.home / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--cluster.listen-address=",  # no gossip: a lone instance, no port 9094
            "--log.level=warn",
        ]

    def alerts(self) -> list[dict[str, Any]]:
        """Alerts Alertmanager holds, with their status (``/api/v2/alerts``)."""
        result: list[dict[str, Any]] = http_json(f"{self.url}/api/v2/alerts")
        return result

    def post_alerts(self, alerts: Sequence[Mapping[str, Any]]) -> None:
        """Send alerts as Prometheus does (``POST /api/v2/alerts``)."""
        http_json(f"{self.url}/api/v2/alerts", body=list(alerts))
