"""Where pages go: the `PageSender` interface, its Twilio and console senders, and a fake.

A page is sent once. The notify agent asks `already_sent` after a restart or a rebalance, and
each sender answers it from what it can see: Twilio from its message log (the page id travels
in the body), the console and the fake from memory.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol, TextIO

import aiohttp
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client

from pipeline.alerts.retry import NO_ANSWER
from pipeline.alerts.twilio_http import RebasedAsyncTwilioHttpClient
from pipeline.phones import mask_phone

logger = logging.getLogger(__name__)

PAGE_KINDS = ("page", "customer", "manager")
WHATSAPP = "whatsapp:"
# Messages to one supervisor since an alert opened fit in one page; a page id past this many
# newer messages is not found (the cost: one more page, never a missed one).
LIST_LIMIT = 100
LOG_CHECK_CONNECTIONS = 4  # connections beyond the sends in flight, for `already_sent`


@dataclass(frozen=True)
class Page:
    """One outbound message: a page to a supervisor, a reply to a customer, or a manager note."""

    page_id: str
    to: str  # E.164, or "whatsapp:+..." for WhatsApp
    body: str
    kind: str  # page | customer | manager

    def __post_init__(self) -> None:
        if self.kind not in PAGE_KINDS:
            raise ValueError(f"Page.kind: one of {PAGE_KINDS}, got {self.kind!r}")
        if not self.page_id:
            raise ValueError("Page.page_id: a non-empty string")


@dataclass(frozen=True)
class SendResult:
    ok: bool
    sid: str
    error: str = ""
    at: float = 0.0  # epoch seconds when the provider answered
    # The provider's HTTP status; 0 (`retry.NO_ANSWER`) when it gave none: a network error, or
    # a sender that is not HTTP. `retry.retry_in` decides from it whether to call again.
    status: int = 0


class SenderError(RuntimeError):
    """The sender could not answer a question (e.g. Twilio's message log is unreachable)."""


class PageSender(Protocol):
    async def send(self, page: Page) -> SendResult:
        """Send `page`; never raises for a delivery failure, which is reported in the result."""
        ...

    async def already_sent(self, page: Page, since: float) -> bool:
        """Whether `page` was sent at or after `since` (epoch seconds): the restart check."""
        ...

    async def aclose(self) -> None:
        """Release what the sender holds open (an HTTP session); the next send reopens it."""
        ...


def body_with_marker(page: Page) -> str:
    """The text to send: the body, plus the page id unless the body already holds it.

    >>> body_with_marker(Page("A-4821", "+1", "Table 7 unhappy. Reply OK A-4821", "page"))
    'Table 7 unhappy. Reply OK A-4821'
    >>> body_with_marker(Page("A-4821", "+1", "Thanks!", "customer"))
    'Thanks! [A-4821]'
    """
    if page.page_id in page.body:
        return page.body
    return f"{page.body} [{page.page_id}]"


class TwilioSender:
    """Sends pages as SMS (or WhatsApp) with the official `twilio` library, through its
    asynchronous calls (`create_async`, `page_async`) on aiohttp: no thread, and about a
    quarter of the CPU of its blocking client (`twilio_http.py`).

    The HTTP session keeps a connection for each of `concurrency` calls in flight, plus a few
    for the message-log checks. `api_base` points the client at the mock in tests.
    """

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        from_number: str,
        api_base: str | None = None,
        status_callback: str | None = None,
        *,
        timeout_s: float = 10.0,
        concurrency: int = 16,
    ) -> None:
        self.from_number = from_number
        self.status_callback = status_callback
        self.connections = concurrency + LOG_CHECK_CONNECTIONS
        self.http = RebasedAsyncTwilioHttpClient(api_base, timeout_s, pool_size=self.connections)
        self._client = Client(account_sid, auth_token, http_client=self.http)

    def _from_for(self, to: str) -> str:
        if to.startswith(WHATSAPP) and not self.from_number.startswith(WHATSAPP):
            return WHATSAPP + self.from_number
        return self.from_number

    async def send(self, page: Page) -> SendResult:
        """Create the message; failures come back as `SendResult(ok=False, error=...)`."""
        kwargs: dict[str, str] = {
            "to": page.to,
            "from_": self._from_for(page.to),
            "body": body_with_marker(page),
        }
        if self.status_callback:
            # The page id comes back with the delivery report: a failed page escalates at once.
            sep = "&" if "?" in self.status_callback else "?"
            kwargs["status_callback"] = f"{self.status_callback}{sep}page={page.page_id}"
        try:
            msg = await self._client.messages.create_async(**kwargs)
        except TwilioRestException as e:
            logger.warning(
                "twilio refused %s %s to %s: %s %s",
                page.kind,
                page.page_id,
                mask_phone(page.to),
                e.status,
                e.code,
            )
            status = int(e.status or 0)
            return SendResult(False, "", f"{e.status} {e.code}: {e.msg}", time.time(), status)
        except (TwilioException, aiohttp.ClientError, OSError) as e:  # timeouts are OSErrors
            logger.warning("twilio unreachable for %s %s: %s", page.kind, page.page_id, e)
            return SendResult(False, "", f"{type(e).__name__}: {e}", time.time(), NO_ANSWER)
        return SendResult(True, str(msg.sid or ""), "", time.time(), 201)

    async def already_sent(self, page: Page, since: float) -> bool:
        """Look for the page id in Twilio's log of messages to `page.to` since `since`.

        Raises `SenderError` when Twilio cannot be asked: the caller decides whether to risk
        a second page or none.
        """
        after = datetime.fromtimestamp(since, tz=UTC)
        try:
            # One page only: a list would follow next_page_uri until `limit` records.
            messages = await self._client.messages.page_async(
                to=page.to, date_sent_after=after, page_size=LIST_LIMIT
            )
        except (TwilioException, aiohttp.ClientError, OSError) as e:
            raise SenderError(f"cannot list messages to {mask_phone(page.to)}: {e}") from e
        return any(page.page_id in (m.body or "") for m in messages)

    async def aclose(self) -> None:
        """Close the HTTP session; a later call opens a new one."""
        await self.http.close()


class ConsoleSender:
    """Writes pages to the log (and to `stream` if given) with the number masked; keeps them."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream
        self.sent: list[tuple[float, Page]] = []

    async def send(self, page: Page) -> SendResult:
        """Print the page; always succeeds."""
        at = time.time()
        self.sent.append((at, page))
        line = f"[{page.kind}] to {mask_phone(page.to)}: {body_with_marker(page)}"
        logger.info("%s", line)
        if self.stream is not None:
            print(line, file=self.stream, flush=True)
        return SendResult(True, f"CONSOLE{len(self.sent):06d}", "", at)

    async def already_sent(self, page: Page, since: float) -> bool:
        """Whether this process printed the page at or after `since`."""
        return any(p.page_id == page.page_id and at >= since for at, p in self.sent)

    async def aclose(self) -> None:
        """Nothing to release."""


@dataclass
class RecordingSender:
    """A fake `PageSender` for tests: records what it is asked to send, and can fail on cue.

    `fail_next` fails that many sends then recovers; `fail_always` fails every send (both with
    `error` and `status`). `statuses` scripts the calls in turn by HTTP status (0: no answer,
    2xx: sent, anything else: failed), then the calls succeed. `delay_s` makes each send take
    that long; `hold`, when given, makes each send wait until it is set. `answer_lost` sends
    that many messages but reports each as unanswered (status 0), as when a timeout hits after
    the provider took the message. `in_flight` and `max_in_flight` count the sends under way.
    """

    fail_next: int = 0
    fail_always: bool = False
    error: str = "503 20003: simulated failure"
    status: int = 503
    statuses: list[int] = field(default_factory=list)
    delay_s: float = 0.0
    hold: asyncio.Event | None = None
    answer_lost: int = 0
    attempts: list[Page] = field(default_factory=list)
    sent: list[tuple[float, Page]] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0

    @property
    def pages(self) -> list[Page]:
        """The pages that were sent successfully, in order."""
        return [p for _, p in self.sent]

    async def send(self, page: Page) -> SendResult:
        """Record `page`; fail if told to."""
        self.attempts.append(page)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            if self.hold is not None:
                await self.hold.wait()
        finally:
            self.in_flight -= 1
        at = time.time()
        if self.statuses:
            status = self.statuses.pop(0)
            if not 200 <= status < 300:
                return SendResult(False, "", f"{status}: scripted failure", at, status)
        elif self.fail_always or self.fail_next > 0:
            self.fail_next = max(self.fail_next - 1, 0)
            return SendResult(False, "", self.error, at, self.status)
        self.sent.append((at, page))
        if self.answer_lost > 0:
            self.answer_lost -= 1
            return SendResult(False, "", "ReadTimeout: no answer", at, NO_ANSWER)
        return SendResult(True, f"SM{len(self.attempts):032x}", "", at, 201)

    async def already_sent(self, page: Page, since: float) -> bool:
        """Whether `page` was sent successfully at or after `since`."""
        return any(p.page_id == page.page_id and at >= since for at, p in self.sent)

    async def aclose(self) -> None:
        """Nothing to release."""
