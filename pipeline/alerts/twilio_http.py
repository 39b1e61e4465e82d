"""A `twilio.http` client that can send the official library's calls somewhere else.

`twilio.rest.Client` builds every URL on `https://api.twilio.com`. Given a base URL (from
`PRONTO_TWILIO_API_BASE`), this client swaps that prefix, so the same code that pages a
supervisor in production talks to the Prism mock in tests and in the benchmark.
"""

from __future__ import annotations

import logging
from typing import Any

from requests.adapters import HTTPAdapter
from twilio.http.http_client import TwilioHttpClient
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


class RebasedTwilioHttpClient(TwilioHttpClient):
    """`TwilioHttpClient` that sends requests for api.twilio.com to `api_base` instead.

    `pool_size` keeps that many connections open for reuse, one per call in flight: the
    library's own pool holds `cpu_count() + 4` (6 on two cores) and drops the connection of
    every call past that, so concurrent sends would each open a new TLS connection.
    """

    def __init__(
        self,
        api_base: str | None = None,
        timeout: float | None = 10.0,
        *,
        pool_size: int | None = None,
        **kw: Any,
    ):
        super().__init__(timeout=timeout, logger=logger, **kw)
        self.api_base = api_base or None
        if pool_size and self.session is not None:
            for scheme in ("https://", "http://"):
                adapter = HTTPAdapter(
                    pool_maxsize=pool_size, max_retries=kw.get("max_retries") or 0
                )
                self.session.mount(scheme, adapter)

    def request(
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
        return super().request(
            method,
            rebase_url(url, self.api_base),
            params=params,
            data=data,
            headers=headers,
            auth=auth,
            timeout=timeout,
            allow_redirects=allow_redirects,
        )

    def log_request(self, kwargs: dict[str, Any]) -> None:
        # The library logs query parameters at INFO, and ours carry phone numbers (To=...).
        logger.debug("twilio %s %s", kwargs["method"], kwargs["url"].split("?", 1)[0])

    def log_response(self, status_code: int, response: Any) -> None:
        logger.debug("twilio answered %s", status_code)
