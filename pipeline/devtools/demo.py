"""`pronto demo`: three live venues in one command.

It starts a local Kafka (unless PRONTO_BROKER names one), a `pronto worker`, the simulator of
three venues, and simulated supervisors and customers; it shows live CSAT/NPS, the pages going
out and the recovery funnel. Ctrl-C stops everything it started, and nothing else.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from pipeline.devtools.demo_run import run
from pipeline.kafka_local import DEFAULT_PORT, KafkaSetupError, LocalKafka, free_port
from pipeline.settings import Settings

logger = logging.getLogger(__name__)

DEMO_AUTH_TOKEN = "demo0123456789abcdef0123456789ab"  # signs the simulated webhooks only
STOP_TIMEOUT_S = 20.0


def port_free(port: int) -> bool:
    import socket

    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def start_kafka(home: Path) -> tuple[LocalKafka | None, str]:
    """(the broker we started or None, its bootstrap). One already up under `home` is reused
    (and left running); otherwise a new one on 9092, or on a free port if 9092 is taken."""
    existing = LocalKafka.for_home(home)
    if existing.pid():
        existing.wait_ready(60)
        return None, existing.bootstrap
    kafka = LocalKafka(home, DEFAULT_PORT if port_free(DEFAULT_PORT) else free_port())
    print(f"starting Kafka on {kafka.bootstrap} (logs in {kafka.dir})...", flush=True)
    try:
        return kafka, kafka.start()
    except BaseException:
        kafka.stop()  # Ctrl-C while it starts: no broker is left behind
        raise


def worker_env(settings: Settings, broker: str, port: int, home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PRONTO_TWILIO_ACCOUNT_SID", None)  # never real SMS to the demo's fake numbers
    env.update({
        "PRONTO_BROKER": broker,
        "PRONTO_WEB_PORT": str(port),
        "PRONTO_HOME": str(home),
        "PRONTO_TWILIO_AUTH_TOKEN": DEMO_AUTH_TOKEN,
        "PRONTO_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "PRONTO_VERIFY_SIGNATURES": "true",
        # Every simulated customer posts from 127.0.0.1: a per-client limit would stop the form.
        "PRONTO_RATE_LIMIT_PER_MIN": env.get("PRONTO_RATE_LIMIT_PER_MIN", "100000"),
        "PRONTO_ACK_TIMEOUT_S": env.get("PRONTO_ACK_TIMEOUT_S", "20"),
    })  # fmt: skip
    return env


class WorkerProcess:
    """`pronto worker` as a child process in its own session, its output in a log file."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log = env, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "worker"],
                                         env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)  # fmt: skip

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> int | None:
        """SIGTERM, then SIGKILL after `timeout_s`; returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                logger.warning("the worker ignored SIGTERM for %.0fs: killing it", timeout_s)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        return self.proc.returncode

    def tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="pronto demo", description=__doc__.splitlines()[0])
    p.add_argument("--duration", type=float, default=None,
                   help="run this many seconds without the live view, then print a JSON summary")  # fmt: skip
    p.add_argument("--rate", type=float, default=2.0, help="feedback a second (default 2)")
    p.add_argument(
        "--port", type=int, default=None, help="the worker's port (default 6066 or free)"
    )
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--burst-every", type=float, default=45.0, help="seconds between bursts")
    p.add_argument("--record", type=Path, default=None, help="save the final frame (.svg or .txt)")
    return p.parse_args(argv)


def main(argv: list[str]) -> int:
    """`pronto demo ...`; see `--help`."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("kafka", "aiokafka"):  # a broker still starting is expected, not an error
        logging.getLogger(noisy).setLevel(logging.CRITICAL)
    settings = Settings()
    home = settings.home.resolve()
    port = args.port or (settings.web_port if port_free(settings.web_port) else free_port())
    # SIGTERM before the event loop runs must unwind like Ctrl-C, through the `finally`s.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    kafka: LocalKafka | None = None
    worker: WorkerProcess | None = None
    try:
        broker = settings.broker
        if not broker:
            kafka, bootstrap = start_kafka(home)
            broker = f"kafka://{bootstrap}"
        env = worker_env(settings, broker, port, home)
        worker = WorkerProcess(env, home / "demo" / f"worker-{port}.log")
        worker.start()
        return asyncio.run(run(args, Settings(**_settings_from(env)), port, worker))
    except KafkaSetupError as e:
        print(f"pronto demo: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        if worker is not None:
            code = worker.stop()
            print(f"worker stopped (exit {code}); its log: {worker.log}", file=sys.stderr)
        if kafka is not None:
            kafka.stop()
            print("Kafka stopped", file=sys.stderr)


def _settings_from(env: dict[str, str]) -> dict[str, Any]:
    """The worker's settings as keyword arguments (what the child reads from `env`)."""
    keys = ("broker", "web_port", "home", "public_url", "twilio_auth_token", "ack_timeout_s")
    return {k: env[f"PRONTO_{k.upper()}"] for k in keys if f"PRONTO_{k.upper()}" in env}
