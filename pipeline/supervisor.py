"""The supervisor of `pronto worker`: starts one process per stage group, restarts the ones
that die, stops them all.

It runs for as long as the worker does, so it stays small: this module imports only the
standard library and the log setup. `pronto worker` reads the settings, creates the topics and
works out each child's environment (kafka-python and the topic admin: tens of MB resident), then
replaces itself with this module (`exec_supervisor`: same pid, so a service manager's
signals still reach it), which holds about 15 MB.

Each child dies with the supervisor (PR_SET_PDEATHSIG), so a SIGKILL of the worker is a crash
of every stage, not a leak of orphans.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import NoReturn

from pipeline.logs import setup_logging

logger = logging.getLogger(__name__)

SPEC_ENV = "PRONTO_SUPERVISOR_SPEC"  # the children, handed over through exec (JSON)
STOP_GRACE_S = 30.0
RESTART_BACKOFF_MAX_S = 10.0
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


@dataclass
class Child:
    name: str
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None
    next_start: float = 0.0
    deaths: list[float] = field(default_factory=list)  # when it died, in the last minute

    def start(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "worker"], env=self.env,
                                     preexec_fn=_die_with_parent)  # fmt: skip
        logger.info("started the %s process (pid %s)", self.name, self.proc.pid)


class Supervisor:
    """Starts its children, restarts the ones that die, stops them all on SIGTERM or SIGINT."""

    def __init__(self, children: list[Child]) -> None:
        self.children = children
        self.stopping = False

    def _on_signal(self, signum: int, _frame: object) -> None:
        if not self.stopping:
            logger.info("stopping the worker (%s)", signal.Signals(signum).name)
        self.stopping = True

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        for child in self.children:
            child.start()
        while not self.stopping:
            time.sleep(0.2)
            for child in self.children:
                self._watch(child)
        return self._stop_all()

    def _watch(self, child: Child) -> None:
        now = time.monotonic()
        if child.proc is None:
            if now >= child.next_start and not self.stopping:
                child.start()
            return
        code = child.proc.poll()
        if code is None:
            return
        # Back off when it keeps dying (a broken config), not when it died once after a while.
        child.deaths = [t for t in child.deaths if now - t < 60.0] + [now]
        delay = min(RESTART_BACKOFF_MAX_S, 0.5 * 2 ** (len(child.deaths) - 1))
        logger.error("the %s process exited with %s; restarting it in %.1f s", child.name, code,
                     delay)  # fmt: skip
        child.proc = None
        child.next_start = now + delay

    def _stop_all(self) -> int:
        running = [c.proc for c in self.children if c.proc is not None and c.proc.poll() is None]
        for proc in running:
            proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for proc in running:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                logger.warning("pid %s did not stop in %.0f s: killed", proc.pid, STOP_GRACE_S)
                proc.kill()
                proc.wait()
        logger.info("worker stopped")
        return 0


def exec_supervisor(children: list[Child], log_level: str, log_json: bool) -> NoReturn:
    """Replace this process with a fresh interpreter running only the supervisor."""
    spec = {"log_level": log_level, "log_json": log_json,
            "children": [{"name": c.name, "env": c.env} for c in children]}  # fmt: skip
    env = {**os.environ, SPEC_ENV: json.dumps(spec)}
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os.execve(sys.executable, [sys.executable, "-m", "pipeline.supervisor"], env)


def main() -> int:
    spec = json.loads(os.environ.pop(SPEC_ENV))
    setup_logging(spec["log_level"], spec["log_json"])
    return Supervisor([Child(c["name"], c["env"]) for c in spec["children"]]).run()


if __name__ == "__main__":
    sys.exit(main())
