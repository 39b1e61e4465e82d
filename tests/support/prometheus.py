"""A real Prometheus (Debian's `prometheus` package) for the tests, on a free port.

`start_prometheus` writes a config that scrapes the given targets every second and loads the
repository's rule files, starts the server, waits until it is ready and returns its URL and a
function that stops it. A missing binary is an error, never a skip.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pipeline.kafka_local import free_port
from tests.support.promql import Query

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
RULE_FILES = tuple(sorted((ROOT / "deploy" / "rules").glob("*.yml")))
INSTALL_HINT = "install it with scripts/provision-system.sh (Debian package `prometheus`)"


class PrometheusError(RuntimeError):
    """Prometheus is missing, did not start, or a query failed."""


def require(tool: str) -> str:
    """The path of `prometheus` or `promtool`; raises (so the test fails) when it is missing."""
    path = shutil.which(tool)
    if not path:
        raise PrometheusError(f"`{tool}` is not on PATH: {INSTALL_HINT}")
    return path


def write_config(
    path: Path, targets: Sequence[str], rule_files: Sequence[Path] = RULE_FILES,
    interval: str = "1s",
) -> Path:  # fmt: skip
    """A config that scrapes `targets` as job `pronto` and evaluates `rule_files` every `interval`."""
    config = {
        "global": {
            "scrape_interval": interval,
            "scrape_timeout": interval,
            "evaluation_interval": interval,
        },
        "rule_files": [str(p) for p in rule_files],
        "scrape_configs": [{"job_name": "pronto", "static_configs": [{"targets": list(targets)}]}],
    }
    path.write_text(json.dumps(config, indent=2))  # JSON is YAML
    return path


def start_prometheus(
    tmp_path: Path, targets: list[str], *, rule_files: Sequence[Path] = RULE_FILES,
    interval: str = "1s", timeout_s: float = 30.0,
) -> tuple[str, Callable[[], None]]:  # fmt: skip
    """Start Prometheus scraping `targets`; returns (base URL, stop). `stop` is idempotent."""
    binary = require("prometheus")
    port = free_port()
    config = write_config(tmp_path / "prometheus.yml", targets, rule_files, interval)
    log_path = tmp_path / "prometheus.log"
    log = log_path.open("wb")
    proc = subprocess.Popen(
        [binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"

    def stop() -> None:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        log.close()

    deadline = time.monotonic() + timeout_s
    while True:
        if proc.poll() is not None:
            stop()
            raise PrometheusError(f"prometheus exited with {proc.returncode}:\n{_tail(log_path)}")
        try:
            with urllib.request.urlopen(f"{url}/-/ready", timeout=2) as r:
                if r.status == 200:
                    logger.info("prometheus ready at %s (pid %s)", url, proc.pid)
                    return url, stop
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if time.monotonic() > deadline:
            stop()
            raise PrometheusError(f"prometheus not ready in {timeout_s}s:\n{_tail(log_path)}")
        time.sleep(0.1)


def api(url: str, path: str, **params: str) -> Any:
    """GET `/api/v1/<path>` and return its `data`; raises on an error status."""
    qs = urllib.parse.urlencode(params)
    try:
        with urllib.request.urlopen(f"{url}/api/v1/{path}?{qs}", timeout=10) as r:
            body = json.loads(r.read())
    except urllib.error.HTTPError as e:
        body = json.loads(e.read() or b"{}")
    if body.get("status") != "success":
        raise PrometheusError(f"{path} {params}: {body.get('errorType')}: {body.get('error')}")
    return body["data"]


def query(url: str, expr: str) -> list[dict[str, Any]]:
    """Run an instant query; returns the result as a list of series (a scalar as one)."""
    data = api(url, "query", query=expr)
    result = data["result"]
    if data["resultType"] in ("scalar", "string"):
        return [{"metric": {}, "value": result}]
    return list(result)


def wait_for_data(url: str, queries: Sequence[Query], timeout_s: float = 20.0) -> list[Query]:
    """Poll until every query returns data; returns those still empty at the deadline."""
    deadline = time.monotonic() + timeout_s
    pending = list(queries)
    while True:
        pending = [q for q in pending if not query(url, q.expr)]
        if not pending or time.monotonic() > deadline:
            return pending
        time.sleep(0.5)


def _tail(path: Path, n: int = 30) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
