"""A `twilio.http` client that can send the official library's calls somewhere else.

`twilio.rest.Client` builds every URL on `https://api.twilio.com`. Given a base URL (from
`PRONTO_TWILIO_API_BASE`), this client swaps that prefix, so the same code that pages a
supervisor in production talks to the Prism mock in tests and in the benchmark.

It serves the library's `*_async` calls, on aiohttp. A send costs about a quarter of the CPU
of the library's blocking client in a thread pool (0.42 ms against 1.68 ms a call, measured
against the benchmark's Twilio stand-in), which spent it in `requests` (re-reading the proxy
settings from the environment on every call) and in handing each call to a thread and back.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import urllib.request
from urllib.parse import urlsplit

import aiohttp
from twilio.http import AsyncHttpClient
from twilio.http.response import Response

logger = logging.getLogger(__name__)

TWILIO_API = "https://api.twilio.com"


def rebase_url(url: str, api_base: str | None) -> str:
    """`url` with Twilio's API host replaced by `api_base` (unchanged when it is empty).

    >>> rebase_url("https://api.twilio.com/2010-04-01/Accounts.json", "http://127.0.0.1:9/")
    'http://127.0.0.1:9/2010-04-01/Accounts.json'
    >>> rebase_url("https://api.twilio.com/2010-04-01/Accounts.json", None)
    'https://api.twilio.com/2010-04-01/Accounts.json'
    """
    if not api_base or not url.startswith(TWILIO_API):
        return url
    return api_base.rstrip("/") + url[len(TWILIO_API) :]


def proxy_for(url: str) -> str | None:
    """The proxy that the environment names for `url` (`HTTPS_PROXY`, `HTTP_PROXY`, `NO_PROXY`
    and their lower-case forms), as `requests` honoured them for the blocking client; None for
    a direct connection.

    >>> import os; os.environ["HTTPS_PROXY"] = "http://proxy.test:3128"
    >>> proxy_for("https://api.twilio.com/2010-04-01")
    'http://proxy.test:3128'
    >>> os.environ["NO_PROXY"] = "api.twilio.com"; proxy_for("https://api.twilio.com/x")
    >>> del os.environ["HTTPS_PROXY"], os.environ["NO_PROXY"]
    """
    parts = urlsplit(url)
    if not parts.hostname or urllib.request.proxy_bypass(parts.hostname):
        return None
    return urllib.request.getproxies().get(parts.scheme)


def basic_auth(user: str, password: str) -> str:
    """An HTTP Basic `Authorization` value (aiohttp's `BasicAuth` argument is deprecated).

    >>> basic_auth("AC1", "secret")
    'Basic QUMxOnNlY3JldA=='
    """
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


class RebasedAsyncTwilioHttpClient(AsyncHttpClient):
    """An asynchronous client (aiohttp) for the library's `*_async` calls, rebased as above.

    The library's own `AsyncTwilioHttpClient` opens its aiohttp session when it is built,
    which needs a running event loop, and logs each call's query at INFO. This one opens its
    session at the first call, keeps `pool_size` connections for reuse (one per call in
    flight), logs no phone number, and goes through the proxy that the environment names
    (read once per host; `requests` read it at every call).
    """

    def __init__(self, api_base: str | None = None, timeout: float | None = 10.0, *,
                 pool_size: int = 16) -> None:  # fmt: skip
        super().__init__(logger, True, timeout)
        self.api_base = api_base or None
        self.pool_size = pool_size
        self.session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._proxies: dict[str, str | None] = {}  # scheme://host -> proxy, read once

    def _session(self) -> aiohttp.ClientSession:
        # A session belongs to the loop it was opened on: a new loop (a restarted worker
        # thread, a test's own `asyncio.run`) gets a new one.
        loop = asyncio.get_running_loop()
        if self.session is None or self.session.closed or self._loop is not loop:
            self.session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.pool_size),
                timeout=aiohttp.ClientTimeout(total=self.timeout),
            )
            self._loop = loop
        return self.session

    async def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        """Make the request the library asked for, on the rebased URL."""
        if timeout is not None and timeout <= 0:
            raise ValueError(timeout)
        headers = dict(headers or {})
        if auth is not None:
            headers["Authorization"] = basic_auth(*auth)
        # No `timeout` argument means the session's; aiohttp reads None as "no timeout".
        limit = {"timeout": aiohttp.ClientTimeout(total=timeout)} if timeout else {}
        url = rebase_url(url, self.api_base)
        site = "/".join(url.split("/", 3)[:3])  # scheme://host:port
        if site not in self._proxies:
            self._proxies[site] = proxy_for(url)
        logger.debug("twilio %s %s", method.upper(), url.split("?", 1)[0])
        async with self._session().request(
            method.upper(),
            url,
            proxy=self._proxies[site],
            params=params,  # type: ignore[arg-type]
            data=data,
            headers=headers,
            allow_redirects=allow_redirects,
            **limit,  # type: ignore[arg-type]
        ) as response:
            text = await response.text()
        logger.debug("twilio answered %s", response.status)
        return Response(response.status, text, response.headers)

    async def close(self) -> None:
        """Close the session (and its connections); a later call opens a new one."""
        session, self.session = self.session, None
        if session is not None and self._loop is asyncio.get_running_loop():
            await session.close()
