"""A throwaway ClickHouse server from Debian's ``clickhouse-server`` package.

Debian bookworm ships ClickHouse 18.16, so the config below keeps to what 18.16 reads
(root element ``<yandex>``) and newer servers still accept. Everything the server
writes lives under its home; it listens on 127.0.0.1 only, on ports chosen free.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from xml.sax.saxutils import escape

from .ports import free_port, is_listening
from .process import ServerProcess

#: Where a password for the ``funnelwatch`` user may come from; a random one otherwise.
PASSWORD_ENV = "FUNNELWATCH_LOCAL_CLICKHOUSE_PASSWORD"
PACKAGE = "clickhouse-server"
#: Debian installs the server in /usr/sbin, which is not on a normal user's PATH.
_SERVER_CANDIDATES = ("/usr/bin/clickhouse-server", "/usr/sbin/clickhouse-server")
_MULTI_CANDIDATES = ("/usr/bin/clickhouse",)

CONFIG_XML = """\
<?xml version="1.0"?>
<yandex>
    <logger>
        <level>information</level>
        <log>{home}/log/server.log</log>
        <errorlog>{home}/log/error.log</errorlog>
        <size>10M</size>
        <count>2</count>
    </logger>
    <listen_host>127.0.0.1</listen_host>
    <tcp_port>{tcp_port}</tcp_port>
    <http_port>{http_port}</http_port>
    <path>{home}/data/</path>
    <tmp_path>{home}/tmp/</tmp_path>
    <user_files_path>{home}/user_files/</user_files_path>
    <users_config>users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <!-- Date functions (toStartOfHour, ...) must not depend on the host's zone. -->
    <timezone>UTC</timezone>
    <mark_cache_size>268435456</mark_cache_size>
    <uncompressed_cache_size>268435456</uncompressed_cache_size>
    <mlock_executable>false</mlock_executable>
</yandex>
"""

USERS_XML = """\
<?xml version="1.0"?>
<yandex>
    <profiles>
        <default>
            <max_memory_usage>4000000000</max_memory_usage>
            <!-- An idle connection notices shutdown only after this many seconds (default
                 10): a client that keeps its connection open would delay every stop. -->
            <poll_interval>1</poll_interval>
        </default>
    </profiles>
    <users>
        <default>
            <password></password>
            <networks><ip>127.0.0.1</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
        <funnelwatch>
            <password_sha256_hex>{password_sha256}</password_sha256_hex>
            <networks><ip>127.0.0.1</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
        </funnelwatch>
    </users>
    <quotas>
        <default>
            <interval>
                <duration>3600</duration>
                <queries>0</queries>
                <errors>0</errors>
                <result_rows>0</result_rows>
                <read_rows>0</read_rows>
                <execution_time>0</execution_time>
            </interval>
        </default>
    </quotas>
</yandex>
"""


class LocalClickHouseError(RuntimeError):
    """The local ClickHouse server could not be installed, started or reached."""


_apt_updated = False


def _dpkg_installed(name: str) -> bool:
    done = subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}", name], capture_output=True, text=True, check=False
    )
    return done.returncode == 0 and done.stdout.strip() == "install ok installed"


def ensure_debian_packages(names: Sequence[str], log: Callable[[str], None] = print) -> None:
    """Install the missing ones of ``names`` with apt-get (``apt-get update`` once)."""
    global _apt_updated
    if shutil.which("dpkg-query") is None or shutil.which("apt-get") is None:
        raise LocalClickHouseError(f"no apt-get here: install {' '.join(names)} yourself")
    missing = [name for name in names if not _dpkg_installed(name)]
    if not missing:
        return
    if os.geteuid() != 0:
        raise LocalClickHouseError(
            f"missing Debian packages {missing}: installing needs root; run "
            f"`sudo apt-get install -y {' '.join(missing)}`"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    # Another apt run (a parallel installer) may hold the lock: wait for it, not fail.
    apt = ["apt-get", "-q", "-o", "DPkg::Lock::Timeout=600"]
    steps = [] if _apt_updated else [[*apt, "update"]]
    steps.append([*apt, "install", "-y", "--no-install-recommends", *missing])
    for cmd in steps:
        log(f"running: {' '.join(cmd)}")
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise LocalClickHouseError(
                f"`{' '.join(cmd)}` failed (exit {done.returncode}):\n"
                + "\n".join((done.stdout + done.stderr).strip().splitlines()[-20:])
            )
        _apt_updated = True


def server_command() -> list[str] | None:
    """How to run the installed server: ``[clickhouse-server]`` or ``[clickhouse, server]``."""
    for name in ("clickhouse-server", *_SERVER_CANDIDATES):
        path = shutil.which(name)
        if path:
            return [path]
    for name in ("clickhouse", *_MULTI_CANDIDATES):
        path = shutil.which(name)
        if path:
            return [path, "server"]
    return None


class LocalClickHouseServer(ServerProcess):
    """One ClickHouse server process on free loopback ports, its state under ``home``.

    Users: ``default`` (no password) and ``funnelwatch`` (``password``, else the
    ``FUNNELWATCH_LOCAL_CLICKHOUSE_PASSWORD`` variable, else a random token), both
    allowed from 127.0.0.1 only.
    """

    start_error = LocalClickHouseError

    def __init__(self, home: Path | None = None, *, password: str | None = None) -> None:
        super().__init__(home, "funnelwatch-ch-")
        self.password = password or os.environ.get(PASSWORD_ENV) or secrets.token_urlsafe(16)
        self.tcp_port = 0
        self.http_port = 0
        self.version = ""

    @property
    def main_port(self) -> int:
        return self.tcp_port

    @property
    def name(self) -> str:
        return PACKAGE

    @property
    def start_log(self) -> Path:
        return self.error_log

    @property
    def url(self) -> str:
        return f"clickhouse://default@127.0.0.1:{self.tcp_port}/default"

    @property
    def funnelwatch_url(self) -> str:
        """URL of the password-protected user; it holds the secret: never log it."""
        return f"clickhouse://funnelwatch:{self.password}@127.0.0.1:{self.tcp_port}/default"

    @property
    def error_log(self) -> Path:
        return self.home / "log" / "error.log"

    def install(self, log: Callable[[str], None] = print) -> list[str]:
        """The server command, installing the Debian package first if no binary exists."""
        command = server_command()
        if command is None:
            ensure_debian_packages([PACKAGE], log)
            command = server_command()
        if command is None:
            raise LocalClickHouseError(f"{PACKAGE} is installed but no server binary was found")
        return command

    def start(self, timeout: float = 60.0) -> float:
        """Configure, launch and wait until queries run; returns the seconds it took."""
        if self._proc is not None and self._proc.poll() is None:
            raise LocalClickHouseError(f"already running (pid {self._proc.pid})")
        command = self.install()
        started = time.monotonic()
        if not self.tcp_port:  # a restart keeps its ports, so clients keep their URL
            self.tcp_port, self.http_port = free_port(), free_port()
        for sub in ("log", "data", "tmp", "user_files"):
            (self.home / sub).mkdir(parents=True, exist_ok=True)
        config = self.home / "config.xml"
        home = escape(str(self.home))
        config.write_text(
            CONFIG_XML.format(home=home, tcp_port=self.tcp_port, http_port=self.http_port)
        )
        sha = hashlib.sha256(self.password.encode()).hexdigest()
        (self.home / "users.xml").write_text(USERS_XML.format(password_sha256=sha))
        self._launch([*command, f"--config-file={config}"], self.home / "log" / "stdout.log")
        return self._await_ready(started, timeout)

    def _answers(self) -> bool:
        # Probe TCP first: the driver logs a traceback for every refused connection.
        return is_listening("127.0.0.1", self.tcp_port, timeout=0.2) and self._query_version()

    def _query_version(self) -> bool:
        from clickhouse_driver import Client

        client = Client(host="127.0.0.1", port=self.tcp_port, connect_timeout=1)
        try:
            self.version = str(client.execute("SELECT version()")[0][0])
            return True
        except Exception:
            return False
        finally:
            client.disconnect()
