"""A real, local, single-node Apache Kafka in KRaft mode (broker and controller in one process).

On first use the broker's jars come from Maven (`mvn dependency:copy-dependencies` on
`deploy/kafka/pom.xml`) and are cached under `PRONTO_HOME`, so later starts need no network.
`PRONTO_KAFKA_HOME` may point at an unpacked official distribution instead.
"""

from __future__ import annotations

import base64
import contextlib
import json
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


@dataclass(frozen=True)
class BrokerState:
    """What `up` records beside the broker: its pid, and where it listens (None: not known)."""

    pid: int
    port: int | None = None

    @property
    def bootstrap(self) -> str | None:
        return None if self.port is None else f"127.0.0.1:{self.port}"


def _write_atomically(path: Path, text: str) -> None:
    """Readers see the old file or the new one, never half of one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _listener_port(properties: str) -> int | None:
    """The PLAINTEXT port in a `server.properties` text: where a broker that recorded only
    its pid (earlier versions) listens.

    >>> _listener_port("listeners=PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:5")
    19092
    >>> _listener_port("log.dirs=/tmp") is None
    True
    """
    for line in properties.splitlines():
        key, _, value = line.partition("=")
        if key.strip() != "listeners":
            continue
        for listener in value.split(","):
            name, _, address = listener.strip().partition("://")
            port = address.rpartition(":")[2]
            if name == "PLAINTEXT" and port.isdigit():
                return int(port)
    return None


def _is_broker(pid: int) -> bool:
    """True while `pid` is a live Kafka broker (not gone, not a zombie, not a reused pid)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, under another user
    if not Path("/proc/self").exists():
        return True  # no procfs (macOS): the signal is all we can check
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    # After a reboot the recorded pid may belong to anything: `down` must not signal it.
    # A zombie's cmdline is empty, so a broker that exited but is not reaped reads as gone.
    return b"kafka.Kafka" in cmdline.split(b"\0")


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
    def state_file(self) -> Path:
        """`broker.json`: the pid, port and bootstrap that `up` recorded."""
        return self.dir / "broker.json"

    @property
    def pid_file(self) -> Path:
        """The plain pid file of earlier versions: still read, no longer written."""
        return self.dir / "broker.pid"

    @classmethod
    def for_home(cls, home: Path, port: int | None = None, name: str = "broker") -> LocalKafka:
        """The broker under `home`, on `port` if given, else where the running one listens,
        else on 9092."""
        state = cls(home, name=name).running()
        if port is None:
            port = state.port if state and state.port is not None else DEFAULT_PORT
        return cls(home, port, name)

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

    def recorded(self) -> BrokerState | None:
        """The state `up` recorded, whether or not that process still runs."""
        try:
            raw = json.loads(self.state_file.read_text())
            port = raw.get("port")
            return BrokerState(int(raw["pid"]), None if port is None else int(port))
        except FileNotFoundError:
            pass
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            logger.warning("ignoring an unreadable %s", self.state_file)
        try:
            pid = int(self.pid_file.read_text())
        except (OSError, ValueError):
            return None
        try:
            return BrokerState(pid, _listener_port((self.dir / "server.properties").read_text()))
        except OSError:
            return BrokerState(pid)

    def running(self) -> BrokerState | None:
        """The recorded broker if it still runs. A record whose process is gone is removed."""
        state = self.recorded()
        if state is None:
            return None
        if _is_broker(state.pid):
            return state
        logger.info("Kafka (pid %d) is gone: removing its stale pid file", state.pid)
        self._forget()
        return None

    def pid(self) -> int | None:
        state = self.running()
        return state.pid if state else None

    def _record(self, pid: int) -> None:
        state = {"pid": pid, "port": self.port, "bootstrap": self.bootstrap}
        _write_atomically(self.state_file, json.dumps(state) + "\n")
        self.pid_file.unlink(missing_ok=True)

    def _forget(self) -> None:
        self.state_file.unlink(missing_ok=True)
        self.pid_file.unlink(missing_ok=True)

    def start(self, timeout_s: float = 90.0) -> str:
        """Provision, format on first use, start, and wait until the broker answers metadata."""
        state = self.running()
        if state:
            if state.port is not None and state.port != self.port:
                raise KafkaSetupError(
                    f"Kafka (pid {state.pid}) already runs at {state.bootstrap}: "
                    f"stop it first to start it on port {self.port}"
                )
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
        self._record(proc.pid)
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
        """Stop the broker cleanly (SIGTERM, controlled shutdown), SIGKILL if it hangs.

        False when none was running (a stale record is removed all the same)."""
        state = self.running()
        if state is None:
            return False
        pid = state.pid
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        if not _wait_exited(pid, timeout_s):
            logger.warning("the broker ignored SIGTERM for %.0fs: killing it", timeout_s)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            _wait_exited(pid, 10.0)
        self._forget()
        return True


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _exited(pid: int) -> bool:
    """True once `pid` is gone or a zombie (a zombie holds no port and no file any more)."""
    _reap(pid)  # our own child (a test, `pronto demo`) would stay a zombie otherwise
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return Path("/proc/self").exists()  # without procfs (macOS) the signal said "alive"
    except OSError:
        return False
    # "pid (comm) S ...": the state letter follows the last ')', as comm may hold one too.
    return stat.rpartition(")")[2].split()[:1] == ["Z"]


def _wait_exited(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not _exited(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
    return True
