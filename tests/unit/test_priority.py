"""A stage process lowers its CPU priority once ready, on every thread (Linux nice is per thread)."""

from __future__ import annotations

import json
import subprocess
import sys

# Run in a process of its own: the renice cannot be undone without privileges, and pytest's
# children (the e2e tests' workers) would inherit it.
SCRIPT = """
import json, os, threading
from pipeline.priority import renice_threads

def nice(tid=0):
    return os.getpriority(os.PRIO_PROCESS, tid)

before = nice()
stop, started, tids = threading.Event(), threading.Event(), []

def idle():
    tids.append(threading.get_native_id())
    started.set()
    stop.wait(10)

old = threading.Thread(target=idle)
old.start()
started.wait(10)
count = renice_threads(before + 3)
late_nice = []
late = threading.Thread(target=lambda: late_nice.append(nice()))
late.start()
late.join()
old_nice = nice(tids[0])
stop.set()
old.join()
print(json.dumps({"before": before, "count": count, "main": nice(), "old": old_nice,
                  "late": late_nice[0]}))
"""


def test_every_thread_is_reniced_and_new_threads_inherit_it() -> None:
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                         timeout=60, check=True)  # fmt: skip
    got = json.loads(out.stdout)
    want = got["before"] + 3
    assert got["count"] >= 2
    assert (got["main"], got["old"], got["late"]) == (want, want, want)
