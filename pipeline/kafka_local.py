"""A real, local, single-node Apache Kafka in KRaft mode (broker and controller in one process).

On first use the broker's jars come from Maven (`mvn dependency:copy-dependencies` on
`deploy/kafka/pom.xml`) and are cached under `PRONTO_HOME`, so later starts need no network.
`PRONTO_KAFKA_HOME` may point at an unpacked official distribution instead.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

KAFKA_VERSION = "4.1.1"
DEFAULT_PORT = 9092


class KafkaSetupError(RuntimeError):
    """Kafka could not be provisioned or started; the message says what to install or check."""


def deploy_dir() -> Path:
    """The repository's `deploy/` folder (override with `PRONTO_DEPLOY_DIR`)."""
    env = os.environ.get("PRONTO_DEPLOY_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[1] / "deploy"


def free_port() -> int:
    """An unused TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _require(tool: str, package_hint: str) -> str:
    path = shutil.which(tool)
    if not path:
        raise KafkaSetupError(
            f"'{tool}' is not installed: install {package_hint}, "
            "or set PRONTO_KAFKA_HOME to an unpacked Apache Kafka distribution."
        )
    return path


def provision_jars(home: Path) -> Path:
    """Return a directory holding the broker's jars, fetching them with Maven on first use."""
    dist = os.environ.get("PRONTO_KAFKA_HOME")
    if dist:
        libs = Path(dist) / "libs"
        if not any(libs.glob("kafka_*.jar")):
            raise KafkaSetupError(f"PRONTO_KAFKA_HOME={dist} has no libs/kafka_*.jar")
        return libs
    libs = home / "kafka" / KAFKA_VERSION / "libs"
    if (libs / ".complete").exists():
        return libs
    _require("java", "a JDK 17 or newer (Debian: openjdk-17-jre-headless)")
    mvn = _require("mvn", "Apache Maven (Debian: maven)")
    pom = deploy_dir() / "kafka" / "pom.xml"
    libs.mkdir(parents=True, exist_ok=True)
    logger.info("provisioning Kafka %s jars into %s", KAFKA_VERSION, libs)
    cmd = [mvn, "-q", "-B", "-f", str(pom), "dependency:copy-dependencies",
           f"-DoutputDirectory={libs}", "-DincludeScope=runtime"]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise KafkaSetupError(f"mvn failed ({proc.returncode}):\n{proc.stdout[-2000:]}")
    (libs / ".complete").write_text(KAFKA_VERSION)
    return libs


def new_cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, URL-safe base64.

    Like Kafka's own `Uuid.randomUuid()`, never one starting with '-', which the storage
    tool's argument parser would take for an option (1 start in 64 failed before).

    >>> all(not new_cluster_id().startswith("-") for _ in range(500))
    True
    """
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


@dataclass
class LocalKafka:
    """One broker: its data under `home/kafka/<name>`, its log in `server.log` there."""

    home: Path
    port: int = DEFAULT_PORT
    name: str = "broker"
    jars_home: Path | None = None  # where the jar cache is, if not under `home`

    @property
    def dir(self) -> Path:
        return self.home / "kafka" / self.name

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid_file(self) -> Path:
        return self.dir / "broker.pid"

    def _properties(self, controller_port: int) -> str:
        data = self.dir / "data"
        return "\n".join([
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.bootstrap.servers=127.0.0.1:{controller_port}",
            f"listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{controller_port}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names=CONTROLLER",
            "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "inter.broker.listener.name=PLAINTEXT",
            f"log.dirs={data}",
            "num.partitions=8",
            "auto.create.topics.enable=true",
            # One node: internal topics cannot be replicated, and fewer partitions start faster.
            "offsets.topic.replication.factor=1",
            "offsets.topic.num.partitions=8",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "transaction.state.log.num.partitions=8",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            "group.initial.rebalance.delay.ms=0",
            "log.retention.hours=168",
            "",
        ])  # fmt: skip

    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text())
        except (OSError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except OSError:
            return None
        return pid

    def start(self, timeout_s: float = 90.0) -> str:
        """Provision, format on first use, start, and wait until the broker answers metadata."""
        if self.pid():
            self.wait_ready(timeout_s)
            return self.bootstrap
        java = _require("java", "a JDK 17 or newer (Debian: openjdk-17-jre-headless)")
        libs = provision_jars(self.jars_home or self.home)
        self.dir.mkdir(parents=True, exist_ok=True)
        ctrl_file = self.dir / "controller.port"
        if not ctrl_file.exists():
            ctrl_file.write_text(str(free_port()))
        props = self.dir / "server.properties"
        props.write_text(self._properties(int(ctrl_file.read_text())))
        classpath = f"{libs}/*"
        log4j = deploy_dir() / "kafka" / "log4j2.properties"
        jvm = [java, "-Xms256m", "-Xmx1g", "-XX:+UseG1GC", "-Djava.awt.headless=true",
               f"-Dlog4j2.configurationFile={log4j}", f"-Dkafka.logs.dir={self.dir}",
               "-cp", classpath]  # fmt: skip
        if not (self.dir / "data" / "meta.properties").exists():
            cluster_id = new_cluster_id()
            fmt = subprocess.run(
                [
                    *jvm,
                    "kafka.tools.StorageTool",
                    "format",
                    "-t",
                    cluster_id,
                    "-c",
                    str(props),
                    "--standalone",
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            if fmt.returncode != 0:
                raise KafkaSetupError(f"formatting the storage failed:\n{fmt.stdout}{fmt.stderr}")
        out = open(self.dir / "stdout.log", "ab")  # noqa: SIM115 - handed to the child
        proc = subprocess.Popen(
            [*jvm, "kafka.Kafka", str(props)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C in the terminal must not reach the broker directly
        )
        out.close()
        self.pid_file.write_text(str(proc.pid))
        try:
            self.wait_ready(timeout_s, proc)
        except Exception:
            self.stop()
            raise
        return self.bootstrap

    def wait_ready(self, timeout_s: float, proc: subprocess.Popen[bytes] | None = None) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                raise KafkaSetupError(f"the broker exited ({proc.returncode}); see {self.dir}")
            # A cheap TCP probe first: kafka-python backs off for seconds on a refused port.
            if _port_open(self.port) and self.answers_metadata():
                return
            time.sleep(0.2)
        raise KafkaSetupError(f"the broker did not answer within {timeout_s:.0f}s; see {self.dir}")

    def answers_metadata(self) -> bool:
        """True when the broker answers a metadata request."""
        from kafka import KafkaAdminClient
        from kafka.errors import KafkaError

        try:
            admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=3000)
        except (KafkaError, OSError, ValueError):
            return False
        try:
            admin.list_topics()
            return True
        except (KafkaError, OSError):
            return False
        finally:
            admin.close()

    def stop(self, timeout_s: float = 30.0) -> bool:
        """Stop the broker cleanly (SIGTERM, controlled shutdown), SIGKILL if it hangs."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self.pid():
            _reap(pid)
            time.sleep(0.2)
        if self.pid():
            logger.warning("the broker ignored SIGTERM for %.0fs: killing it", timeout_s)
            os.killpg(pid, signal.SIGKILL)
            time.sleep(0.5)
            _reap(pid)
        self.pid_file.unlink(missing_ok=True)
        return True


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
