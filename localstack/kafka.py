"""A single-node Apache Kafka 4.x broker in KRaft mode, started with ``java -cp``.

The broker's jars come from Maven Central (``kafka/pom.xml`` next to this module) into
a per-version cache, once; each :class:`LocalKafka` home holds one broker's config,
data, log and pidfile, so ``stop`` works from any process that knows the home.

CLI: ``python -m funnelwatch.localstack.kafka {install,start,stop,status}``.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from .ports import free_port, is_listening, wait_closed
from .process import ServerContext

KAFKA_VERSION = "4.1.1"
BROKER_MAIN = "kafka.Kafka"
STORAGE_TOOL_MAIN = "kafka.tools.StorageTool"
MIN_JAVA = 17
POM = Path(__file__).with_name("kafka") / "pom.xml"

LOG4J2_PROPERTIES = """\
# Everything to stdout, which LocalKafka redirects to kafka.log under the home.
status = warn
# Kafka's own shutdown hook logs until the JVM exits: log4j's must not close the appender first.
shutdownHook = disable
appender.out.type = Console
appender.out.name = STDOUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = STDOUT
"""


class LocalKafkaError(RuntimeError):
    """The local broker could not be installed, started or reached."""


def default_cache_dir(version: str = KAFKA_VERSION) -> Path:
    return Path.home() / ".cache" / "funnelwatch" / f"kafka-{version}"


def java_major_version(java: str) -> int:
    """The feature release of ``java`` (8 for ``1.8.0_x``, 17 for ``17.0.15``)."""
    out = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    found = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not found:
        raise LocalKafkaError(f"cannot tell the version of {java}: {out.stderr.strip()!r}")
    major = int(found.group(1))
    return int(found.group(2) or 0) if major == 1 else major


def require_java() -> str:
    java = shutil.which("java")
    if java is None:
        raise LocalKafkaError(
            f"java not found on PATH: Kafka {KAFKA_VERSION} needs Java {MIN_JAVA}+ "
            "(Debian: apt-get install openjdk-17-jre-headless)"
        )
    major = java_major_version(java)
    if major < MIN_JAVA:
        raise LocalKafkaError(f"{java} is Java {major}; Kafka 4 needs Java {MIN_JAVA}+")
    return java


def is_reachable(bootstrap: str, timeout: float = 3.0) -> bool:
    """True if a broker at ``bootstrap`` accepts TCP and answers a metadata request."""
    host, _, port = bootstrap.split(",")[0].strip().rpartition(":")
    if not is_listening(host or "127.0.0.1", int(port)):
        return False  # fast path: kafka-python would otherwise retry until its timeout
    from kafka import KafkaAdminClient  # imported late: the CLI's install needs no client

    timeout_ms = int(timeout * 1000)
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap,
            client_id="funnelwatch-localstack",
            bootstrap_timeout_ms=timeout_ms,
            request_timeout_ms=timeout_ms,
        )
    except Exception:
        return False
    try:
        return bool(admin.describe_cluster()["brokers"])
    except Exception:
        return False
    finally:
        admin.close()


def new_cluster_id() -> str:
    """A Kafka cluster id: 16 random bytes, URL-safe base64 without padding."""
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cid.startswith("-"):  # Kafka's own generator avoids ids that look like flags
            return cid


def _log_excerpt(path: Path, lines: int = 20) -> str:
    """The log's ERROR lines, each with the exception line after it; else its last lines.

    A failed start ends with dozens of shutdown lines that bury the cause.
    """
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    error = re.compile(r" (ERROR|FATAL) ")
    picked = [
        line
        for i, line in enumerate(text)
        if error.search(line) or (i > 0 and error.search(text[i - 1]))
    ]
    return "\n".join((picked or text)[-lines:])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie still answers kill(0) until its parent reaps it
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


class LocalKafka(ServerContext):
    """One KRaft broker+controller on 127.0.0.1, its state under ``home``."""

    def __init__(
        self,
        home: Path,
        port: int = 9092,
        controller_port: int | None = None,
        *,
        version: str = KAFKA_VERSION,
        cache_dir: Path | None = None,
        heap: str = "512m",
    ) -> None:
        self.home = Path(home).absolute()  # the pidfile check matches it in the JVM's cmdline
        self.port = port
        self.controller_port = controller_port
        self.version = version
        self.cache_dir = cache_dir or default_cache_dir(version)
        self.heap = heap
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def libs(self) -> Path:
        return self.cache_dir / "libs"

    @property
    def log_file(self) -> Path:
        return self.home / "kafka.log"

    @property
    def pid_file(self) -> Path:
        return self.home / "kafka.pid"

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    def is_installed(self) -> bool:
        return (self.libs / f"kafka_2.13-{self.version}.jar").is_file()

    def install(self, log: Callable[[str], None] = print) -> None:
        """Resolve the broker jars with Maven into the cache, unless already there."""
        if self.is_installed():
            log(f"Kafka {self.version}: jars already in {self.libs}")
            return
        mvn = shutil.which("mvn")
        if mvn is None:
            raise LocalKafkaError(
                "mvn not found on PATH: it resolves the Kafka jars from Maven Central "
                f"(Debian: apt-get install maven; Kafka also needs Java {MIN_JAVA}+)"
            )
        require_java()
        log(f"Kafka {self.version}: resolving jars from Maven Central into {self.libs}")
        started = time.monotonic()
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        # Copies into a staging dir renamed at the end, so an interrupted run never
        # leaves a half-filled libs/ that is_installed() would accept.
        staging = self.cache_dir / "libs.partial"
        shutil.rmtree(staging, ignore_errors=True)
        pom = self.cache_dir / "pom.xml"  # a copy: site-packages may be read-only for Maven
        shutil.copyfile(POM, pom)
        cmd = [
            mvn,
            "-q",
            "-B",
            "-f",
            str(pom),
            f"-Dkafka.version={self.version}",
            "dependency:copy-dependencies",
            f"-DoutputDirectory={staging}",
        ]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0 or not (staging / f"kafka_2.13-{self.version}.jar").is_file():
            output = (done.stdout + done.stderr).strip().splitlines()[-30:]
            raise LocalKafkaError(
                f"Maven could not resolve Kafka {self.version} (exit {done.returncode}):\n"
                + "\n".join(output)
            )
        shutil.rmtree(self.libs, ignore_errors=True)
        staging.rename(self.libs)
        jars = len(list(self.libs.glob("*.jar")))
        log(f"Kafka {self.version}: {jars} jars in {time.monotonic() - started:.1f}s")

    def server_properties(self) -> str:
        assert self.controller_port is not None
        cport = self.controller_port
        # Static voters, not the --standalone dynamic quorum: a dynamic quorum records the
        # controller's endpoint in the metadata log, which would pin the controller port of
        # a reused home; static voters take it from this file on every start.
        return "\n".join(
            [
                "process.roles=broker,controller",
                "node.id=1",
                f"controller.quorum.voters=1@127.0.0.1:{cport}",
                f"listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{cport}",
                f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
                "controller.listener.names=CONTROLLER",
                "inter.broker.listener.name=PLAINTEXT",
                "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                f"log.dirs={self.data_dir}",
                "num.partitions=4",
                # Topics come from the catalogue with explicit partition counts (Faust's
                # PartitionsMismatch): a typo must fail, not create a 4-partition topic.
                "auto.create.topics.enable=false",
                "offsets.topic.replication.factor=1",
                "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1",
                "share.coordinator.state.topic.replication.factor=1",
                "share.coordinator.state.topic.min.isr=1",
                "group.initial.rebalance.delay.ms=0",
                "",
            ]
        )

    def _java_command(self, java: str, main: str, *args: str) -> list[str]:
        return [
            java,
            f"-Xmx{self.heap}",
            "-Xms128m",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.home / 'log4j2.properties'}",
            f"-Dkafka.logs.dir={self.home / 'logs'}",
            "-cp",
            f"{self.libs}{os.sep}*",  # the JVM expands the wildcard, not a shell
            main,
            *args,
        ]

    def _pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if _alive(pid) and self._is_our_broker(pid) else None

    def _is_our_broker(self, pid: int) -> bool:
        """Guards against a stale pidfile whose pid now belongs to another program."""
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return True  # no /proc to ask (not Linux): trust the pidfile
        return str(self.home / "server.properties").encode() in cmdline

    def start(self) -> None:
        """Write the config, format storage on first use, and launch the broker.

        Returns once the JVM is spawned; :meth:`wait_ready` waits for clients.
        """
        running = self._pid()
        if running is not None:
            raise LocalKafkaError(f"a broker from {self.home} already runs (pid {running})")
        java = require_java()
        if not self.is_installed():
            raise LocalKafkaError(
                f"Kafka {self.version} is not installed in {self.cache_dir}: call install() "
                "or run `python -m funnelwatch.localstack.kafka install`"
            )
        if self.controller_port is None:
            self.controller_port = free_port()
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "logs").mkdir(exist_ok=True)
        props = self.home / "server.properties"
        props.write_text(self.server_properties())
        (self.home / "log4j2.properties").write_text(LOG4J2_PROPERTIES)
        if not (self.data_dir / "meta.properties").is_file():
            self._format(java, props)
        with self.log_file.open("wb") as out:
            self._proc = subprocess.Popen(
                self._java_command(java, BROKER_MAIN, str(props)),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.home,
                start_new_session=True,  # own process group: stop() signals the JVM alone
            )
        self.pid_file.write_text(f"{self._proc.pid}\n")

    def _format(self, java: str, props: Path) -> None:
        cmd = self._java_command(
            java, STORAGE_TOOL_MAIN, "format", "-t", new_cluster_id(), "-c", str(props)
        )
        done = subprocess.run(cmd, capture_output=True, text=True, cwd=self.home, check=False)
        if done.returncode != 0:
            raise LocalKafkaError(
                f"formatting {self.data_dir} failed (exit {done.returncode}):\n"
                + (done.stdout + done.stderr).strip()
            )

    def wait_ready(self, timeout: float = 90.0) -> float:
        """Block until the broker answers metadata requests; returns the seconds waited.

        A broker that is not ready within ``timeout`` is stopped before this raises.
        """
        started = time.monotonic()
        while True:
            # The process this object launched is asked directly: its /proc cmdline can
            # read empty for a moment while the java launcher re-executes itself.
            gone = self._proc.poll() is not None if self._proc else self._pid() is None
            if gone:
                code = self._proc.poll() if self._proc else None
                raise LocalKafkaError(
                    f"the broker exited (code {code}) before it was ready; "
                    f"from {self.log_file}:\n{_log_excerpt(self.log_file)}"
                )
            if is_reachable(self.bootstrap):
                return time.monotonic() - started
            if time.monotonic() - started > timeout:
                pid = self._pid()
                self.stop()
                raise LocalKafkaError(
                    f"the broker (pid {pid}) was not ready after {timeout:.0f}s, stopped it; "
                    f"from {self.log_file}:\n{_log_excerpt(self.log_file)}"
                )
            time.sleep(0.25)

    def stop(self, timeout: float = 30.0) -> bool:
        """SIGTERM the broker's process group, SIGKILL after ``timeout``; False if none ran."""
        pid = self._pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        self._signal(pid, signal.SIGTERM)
        if not self._wait_exit(pid, timeout):
            self._signal(pid, signal.SIGKILL)
            self._wait_exit(pid, 10.0)
        self.pid_file.unlink(missing_ok=True)
        wait_closed("127.0.0.1", self.port, timeout=5.0)
        return True

    @staticmethod
    def _signal(pid: int, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, sig)

    def _wait_exit(self, pid: int, timeout: float) -> bool:
        if self._proc is not None and self._proc.pid == pid:
            try:
                self._proc.wait(timeout)  # our own child: wait() also reaps it
                return True
            except subprocess.TimeoutExpired:
                return False
        deadline = time.monotonic() + timeout
        while _alive(pid):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)
        return True

    def status(self) -> str:
        pid = self._pid()
        if pid is None:
            return f"stopped (home {self.home})"
        state = "ready" if is_reachable(self.bootstrap) else "not answering"
        return f"running, pid {pid}, {self.bootstrap} {state} (home {self.home})"

    def _start_ready(self) -> None:
        self.start()
        try:
            self.wait_ready()
        except BaseException:  # Ctrl-C too: __exit__ will not run, so no JVM may stay behind
            self.stop()
            raise


def _default_home() -> Path:
    from funnelwatch.settings import load_settings

    return load_settings().data_dir / "kafka"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m funnelwatch.localstack.kafka",
        description=f"A local single-node Kafka {KAFKA_VERSION} broker (KRaft, no Docker).",
    )
    parser.add_argument("command", choices=["install", "start", "stop", "status"])
    parser.add_argument("--home", type=Path, help="broker state dir (default: <data_dir>/kafka)")
    parser.add_argument("--port", type=int, default=9092, help="client port (default 9092)")
    parser.add_argument("--controller-port", type=int, help="KRaft port (default: a free one)")
    parser.add_argument("--cache-dir", type=Path, help="where the jars go (default ~/.cache)")
    args = parser.parse_args(argv)
    kafka = LocalKafka(
        args.home or _default_home(), args.port, args.controller_port, cache_dir=args.cache_dir
    )
    try:
        if args.command == "install":
            kafka.install()
        elif args.command == "start":
            kafka.install()
            print(f"starting Kafka {kafka.version} on {kafka.bootstrap} (home {kafka.home})")
            kafka.start()
            print(f"ready in {kafka.wait_ready():.1f}s; log: {kafka.log_file}")
        elif args.command == "stop":
            print("stopped" if kafka.stop() else "not running")
        else:
            print(kafka.status())
    except LocalKafkaError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
