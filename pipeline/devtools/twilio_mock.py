"""A local Twilio REST API for tests and the benchmark: Stoplight Prism plus a recorder.

Prism serves Twilio's official OpenAPI description of the 2010 API and rejects any request
that breaks Twilio's contract (401 without Basic auth, 422 on a missing `To`, a malformed
account SID or a badly typed field). In front of it sits a small recording reverse proxy, so a
test can see exactly which calls the pipeline made and when (the monotonic clock is shared by
every process on the host, so arrival times compare with the webhook's).

Prism rejects bad requests with or without `--errors`; that flag also turns its own *response*
violations into 500s. Twilio's spec declares `first_page_uri` and friends as `format: uri`, yet
its examples (like the real API) hold relative paths, so under `--errors` every list call
(`GET .../Messages.json`) fails. `strict_responses=True` turns the flag on anyway.

    mock = TwilioMock(Path(".pronto/twilio-mock"))
    base = mock.start()          # e.g. "http://127.0.0.1:41234"; set PRONTO_TWILIO_API_BASE
    ...
    mock.recorded()              # [{"method": "POST", "path": ..., "form": {...}, "status": 201}]
    mock.stop()

Run as `python -m pipeline.devtools.twilio_mock --port P --upstream URL` for the recorder alone.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO, Any
from urllib.parse import parse_qsl

from aiohttp import ClientSession, ClientTimeout, web

logger = logging.getLogger(__name__)

SPEC_IN_PACKAGE = "node_modules/@twilio/cli-core/src/services/twilio-api/twilio_api_v2010.json"
PRISM_BIN = "node_modules/.bin/prism"
RECORDED_PATH = "/__recorded"
# Headers that describe one hop, not the message; aiohttp sets its own.
_HOP_HEADERS = frozenset(
    {"host", "connection", "keep-alive", "transfer-encoding", "content-length", "upgrade"}
)
_RECORDS: web.AppKey[list[dict[str, Any]]] = web.AppKey("records", list)
_UPSTREAM: web.AppKey[str] = web.AppKey("upstream", str)
_SESSION: web.AppKey[ClientSession] = web.AppKey("session", ClientSession)


class TwilioMockError(RuntimeError):
    """The mock cannot start: node, npm or Prism is missing, or a process did not come up."""


def mock_dir() -> Path:
    """The folder with the mock's package.json: `PRONTO_TWILIO_MOCK_DIR` or the repo's deploy/."""
    override = os.environ.get("PRONTO_TWILIO_MOCK_DIR")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[2] / "deploy" / "twilio-mock"


# --- the recording reverse proxy -------------------------------------------------------------


async def _recorded(request: web.Request) -> web.Response:
    records = request.app[_RECORDS]
    if request.method == "DELETE":
        records.clear()
        return web.json_response({"cleared": True})
    return web.json_response(records)


async def _forward(request: web.Request) -> web.Response:
    arrived_mono, arrived_wall = time.monotonic(), time.time()
    body = await request.read()
    text = body.decode("utf-8", errors="replace")
    is_form = request.content_type == "application/x-www-form-urlencoded"
    record: dict[str, Any] = {
        "monotonic": arrived_mono,
        "wall": arrived_wall,
        "method": request.method,
        "path": request.path,
        "query": dict(request.query),
        # Last value wins: the pages we send never repeat a field.
        "form": dict(parse_qsl(text, keep_blank_values=True)) if is_form else {},
        "body": text,
        "status": None,
    }
    request.app[_RECORDS].append(record)
    headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_HEADERS}
    url = request.app[_UPSTREAM] + request.rel_url.raw_path_qs
    async with request.app[_SESSION].request(
        request.method, url, headers=headers, data=body
    ) as upstream:
        payload = await upstream.read()
        record["status"] = upstream.status
        out_headers = {k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_HEADERS}
        out_headers.pop("Content-Encoding", None)  # aiohttp already decoded the body
        return web.Response(status=upstream.status, body=payload, headers=out_headers)


def make_recorder_app(upstream: str) -> web.Application:
    """The aiohttp app that records every request and forwards it to `upstream` (Prism)."""
    app = web.Application(client_max_size=4 * 1024 * 1024)
    app[_RECORDS] = []
    app[_UPSTREAM] = upstream.rstrip("/")

    async def session_ctx(app: web.Application) -> Any:
        app[_SESSION] = ClientSession(timeout=ClientTimeout(total=30), auto_decompress=True)
        yield
        await app[_SESSION].close()

    app.cleanup_ctx.append(session_ctx)
    app.router.add_route("GET", RECORDED_PATH, _recorded)
    app.router.add_route("DELETE", RECORDED_PATH, _recorded)
    app.router.add_route("*", "/{tail:.*}", _forward)
    return app


# --- the launcher ----------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1):
            return True
    except urllib.error.HTTPError:
        return True  # any HTTP answer, 404 included, means the server is up
    except OSError:
        return False


class TwilioMock:
    """Prism serving Twilio's 2010 API, behind the recorder; logs go to files in `home`."""

    def __init__(
        self, home: Path, directory: Path | None = None, *, strict_responses: bool = False
    ) -> None:
        self.home = Path(home)
        self.directory = directory or mock_dir()
        self.strict_responses = strict_responses
        self.base_url = ""
        self.prism_url = ""
        self.prism_start_s = 0.0
        self._procs: list[subprocess.Popen[bytes]] = []
        self._logs: list[IO[bytes]] = []

    @property
    def spec(self) -> Path:
        return self.directory / SPEC_IN_PACKAGE

    def ensure_installed(self) -> None:
        """Run `npm ci` in the mock's folder if Prism is not installed there yet."""
        if (self.directory / PRISM_BIN).exists() and self.spec.exists():
            return
        for tool in ("node", "npm"):
            if not shutil.which(tool):
                raise TwilioMockError(f"{tool} is missing: install Node.js 20+ to run the mock")
        logger.info("installing Prism in %s (npm ci)", self.directory)
        done = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=self.directory,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0 or not (self.directory / PRISM_BIN).exists():
            raise TwilioMockError(f"npm ci failed in {self.directory}: {done.stderr[-2000:]}")

    def start(self, timeout_s: float = 90.0) -> str:
        """Start Prism and the recorder, wait until both answer; return the recorder's URL."""
        if self._procs:
            return self.base_url
        self.ensure_installed()
        self.home.mkdir(parents=True, exist_ok=True)
        prism_port, rec_port = free_port(), free_port()
        self.prism_url = f"http://127.0.0.1:{prism_port}"
        self.base_url = f"http://127.0.0.1:{rec_port}"
        t0 = time.monotonic()
        try:
            argv = [str(self.directory / PRISM_BIN), "mock", "-h", "127.0.0.1"]
            argv += ["-p", str(prism_port), str(self.spec)]
            if self.strict_responses:
                argv.append("--errors")
            self._spawn(argv, "prism.log")
            self._wait(self.prism_url + "/", timeout_s)
            self.prism_start_s = time.monotonic() - t0
            self._spawn(
                [
                    sys.executable,
                    "-m",
                    __name__,
                    "--port",
                    str(rec_port),
                    "--upstream",
                    self.prism_url,
                ],
                "recorder.log",
                env=_env_importing_pipeline(),
            )
            self._wait(self.base_url + RECORDED_PATH, timeout_s)
        except BaseException:
            self.stop()
            raise
        logger.info("twilio mock at %s (prism up in %.1f s)", self.base_url, self.prism_start_s)
        return self.base_url

    def _spawn(self, argv: list[str], log_name: str, env: dict[str, str] | None = None) -> None:
        log = open(self.home / log_name, "ab")  # noqa: SIM115 - closed in stop()
        self._logs.append(log)
        # A session of its own, so stop() can end the process and any child it made.
        proc = subprocess.Popen(
            argv,
            cwd=self.directory,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._procs.append(proc)

    def _wait(self, url: str, timeout_s: float) -> None:
        proc = self._procs[-1]
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise TwilioMockError(
                    f"{proc.args!r} exited with {proc.returncode}; see {self.home}"
                )
            if _answers(url):
                return
            time.sleep(0.1)
        raise TwilioMockError(f"{url} did not answer within {timeout_s:.0f} s; see {self.home}")

    def stop(self) -> None:
        """Stop both processes (and their children); safe to call twice."""
        for proc in reversed(self._procs):
            _end(proc)
        self._procs.clear()
        for log in self._logs:
            log.close()
        self._logs.clear()

    def recorded(self) -> list[dict[str, Any]]:
        """Every request the mock has seen since the last `clear()`, oldest first."""
        with urllib.request.urlopen(self.base_url + RECORDED_PATH, timeout=5) as r:
            data: list[dict[str, Any]] = json.load(r)
            return data

    def clear(self) -> None:
        """Forget the recorded requests."""
        req = urllib.request.Request(self.base_url + RECORDED_PATH, method="DELETE")
        with urllib.request.urlopen(req, timeout=5):
            pass

    def __enter__(self) -> TwilioMock:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _env_importing_pipeline() -> dict[str, str]:
    # The recorder runs as `-m pipeline...` from another folder; it must find this package.
    root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    return env


def _end(proc: subprocess.Popen[bytes], grace_s: float = 5.0) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(grace_s)
        except ProcessLookupError:
            pass
    # The leader may be gone while a child it forked lives on in the group.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def main(argv: list[str] | None = None) -> None:
    """Run the recorder alone, in front of an already running Prism."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="Prism's base URL")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    web.run_app(
        make_recorder_app(args.upstream),
        host=args.host,
        port=args.port,
        print=None,
        access_log=None,
    )


if __name__ == "__main__":
    main()
