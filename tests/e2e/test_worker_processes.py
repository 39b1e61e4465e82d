"""`pronto worker` runs its stages as three supervised processes (issue 14): a dead one is
restarted, SIGTERM to the supervisor alone stops them all, and none outlives it."""

from __future__ import annotations

import os
import signal
import time
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from tests.support.kafka import worker_env

pytestmark = pytest.mark.kafka


def children(pid: int) -> dict[str, int]:
    """stage group -> pid of the supervisor's children, from /proc."""
    out = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid != pid:
            continue
        stages = next((e.split(b"=", 1)[1].decode() for e in environ
                       if e.startswith(b"PRONTO_STAGES=")), "")  # fmt: skip
        out[stages] = int(entry.name)
    return out


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def nice(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])


def thread_nices(pid: int) -> set[int]:
    """The nice values of all of `pid`'s threads (Linux keeps one per thread)."""
    out = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            out.add(int((task / "stat").read_text().rsplit(")", 1)[1].split()[16]))
        except OSError:
            continue  # the thread ended meanwhile
    return out


def survivors(pids: Iterable[int], timeout_s: float = 10.0) -> list[int]:
    """The pids still alive after waiting up to `timeout_s` for them to exit."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.2)
    return [p for p in pids if alive(p)]


def ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/readyz", timeout=2) as r:
            return bool(r.status == 200)
    except Exception:
        return False


def test_three_processes_a_dead_one_restarts_and_sigterm_stops_them_all(
    make_worker: Any, bootstrap: str, tmp_path: Path
) -> None:
    w = make_worker(worker_env(bootstrap, tmp_path / "home"))
    assert w.proc is not None
    procs = children(w.proc.pid)
    assert set(procs) == {"web", "score", "alert,notify"}, procs
    # Once the topics exist the worker becomes the small supervisor, under the same pid.
    cmdline = Path(f"/proc/{w.proc.pid}/cmdline").read_bytes().split(b"\0")
    assert cmdline[1:3] == [b"-m", b"pipeline.supervisor"], cmdline
    # On a busy host the kernel serves ingest and the page path before scoring, once the score
    # process is ready (it polls its readiness every 0.2 s), on every one of its threads.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and nice(procs["score"]) == nice(procs["web"]):
        time.sleep(0.2)
    assert thread_nices(procs["score"]) == {nice(procs["web"]) + 10}
    assert nice(procs["web"]) == nice(procs["alert,notify"])
    log = w.tail(100_000)
    assert f"CPU priority lowered to nice {nice(procs['web']) + 10}" in log
    assert log.count("uvloop loop") == 3, log  # every stage process runs on libuv's loop

    os.kill(procs["score"], signal.SIGKILL)  # the score process crashes
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        now = children(w.proc.pid)
        if now.get("score") not in (None, procs["score"]) and ready(w.url):
            break
        time.sleep(0.5)
    now = children(w.proc.pid)
    assert now.get("score") not in (None, procs["score"]), f"not restarted:\n{w.tail()}"
    assert ready(w.url), w.tail()
    assert now["web"] == procs["web"] and now["alert,notify"] == procs["alert,notify"]

    os.kill(w.proc.pid, signal.SIGTERM)  # the supervisor alone, as a service manager would
    assert w.proc.wait(60) == 0
    assert not survivors(now.values()), "a stage process outlived the worker"
    assert "worker stopped" in w.tail(200)


def test_a_sigkilled_supervisor_takes_its_stage_processes_with_it(
    make_worker: Any, bootstrap: str, tmp_path: Path
) -> None:
    w = make_worker(worker_env(bootstrap, tmp_path / "home"))
    assert w.proc is not None
    procs = children(w.proc.pid)
    assert len(procs) == 3, procs
    os.kill(w.proc.pid, signal.SIGKILL)  # not the process group: the children are on their own
    w.proc.wait(10)
    assert not survivors(procs.values()), "orphaned stage processes"
