"""Console logins: signed session cookies, CSRF tokens, bearer tokens, and the login pages.

A session is a cookie `payload.mac`, with the MAC an HMAC-SHA256 under a key derived from
`PRONTO_SECRET_KEY`, so any worker can check it and no server keeps sessions. An anonymous
session (before login) only carries the CSRF token of the login form. API clients may send
`Authorization: Bearer <token>` instead; a browser cannot be tricked into sending that header,
so those requests need no CSRF token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from aiohttp import web

from pipeline.config import Venues

if TYPE_CHECKING:
    from pipeline.app import Pronto

logger = logging.getLogger(__name__)

COOKIE = "pronto_session"
SESSION_TTL_S = 12 * 3600.0  # a long shift
ANON_TTL_S = 3600.0
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
MAX_FAILURES = 10  # failed logins per client per FAILURE_WINDOW_S before 429
FAILURE_WINDOW_S = 300.0

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Session:
    name: str  # "" before login
    locations: tuple[str, ...]  # the locations this supervisor may see and act on
    csrf: str
    exp: float
    via: Literal["cookie", "bearer"] = "cookie"

    @property
    def logged_in(self) -> bool:
        return bool(self.name)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SessionCodec:
    """Signs and checks session cookies.

    >>> codec = SessionCodec("k")
    >>> value = codec.encode(Session("Ana", ("bus-42",), "t", exp=200.0))
    >>> codec.decode(value, now=100.0).name, codec.decode(value, now=300.0)
    ('Ana', None)
    >>> SessionCodec("other").decode(value, now=100.0) is None
    True
    """

    def __init__(self, secret: str) -> None:
        # A key of its own: the secret also hashes phone numbers, and the two must not mix.
        self._key = hmac.new(secret.encode(), b"pronto/console-session/v1", hashlib.sha256).digest()

    def _mac(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode(), hashlib.sha256).digest())

    def encode(self, s: Session) -> str:
        doc = {"n": s.name, "l": list(s.locations), "c": s.csrf, "e": s.exp}
        payload = _b64(json.dumps(doc, separators=(",", ":")).encode())
        return f"{payload}.{self._mac(payload)}"

    def decode(self, value: str, now: float) -> Session | None:
        payload, _, mac = value.partition(".")
        if not payload or not hmac.compare_digest(mac.encode(), self._mac(payload).encode()):
            return None
        try:
            doc = json.loads(_unb64(payload))
            s = Session(
                str(doc["n"]), tuple(str(x) for x in doc["l"]), str(doc["c"]), float(doc["e"])
            )
        except (ValueError, KeyError, TypeError):
            return None
        return s if s.exp > now and s.csrf else None


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def find_supervisor(venues: Venues, name: str, token: str) -> tuple[str, tuple[str, ...]] | None:
    """(name as configured, its location ids) when `token` is that supervisor's token.

    With `name` empty, the token alone identifies the supervisor (bearer tokens). Every
    configured token is compared, in constant time, so timing tells nothing.
    """
    found_name, locs = "", []
    wanted = name.strip().casefold()
    for loc in venues.locations:
        for sup in loc.supervisors:
            match = _same(sup.token, token) if sup.token else False
            if match and (not wanted or sup.name.casefold() == wanted):
                if found_name and sup.name != found_name:
                    continue  # one token, two people: the first configured one wins
                found_name = sup.name
                locs.append(loc.id)
    return (found_name, tuple(locs)) if found_name and token else None


class Auth:
    """Who is asking: the session cookie or a bearer token, and the CSRF check."""

    def __init__(self, ctx: Pronto, *, ttl_s: float = SESSION_TTL_S,
                 clock: Callable[[], float] = time.time) -> None:  # fmt: skip
        self.venues = ctx.venues
        self.codec = SessionCodec(ctx.settings.secret_key.get_secret_value())
        self.ttl_s = ttl_s
        self.clock = clock
        self._failures: dict[str, deque[float]] = {}

    def new_session(self, name: str = "", locations: tuple[str, ...] = ()) -> Session:
        ttl = self.ttl_s if name else ANON_TTL_S
        return Session(name, locations, secrets.token_urlsafe(24), self.clock() + ttl)

    def session(self, request: web.Request) -> Session | None:
        """The valid session cookie of `request` (anonymous or not), or None."""
        value = request.cookies.get(COOKIE, "")
        return self.codec.decode(value, self.clock()) if value else None

    def who(self, request: web.Request) -> Session | None:
        """The logged-in supervisor (by bearer token or cookie), or None."""
        header = request.headers.get("Authorization", "")
        if header:
            scheme, _, token = header.partition(" ")
            found = (
                find_supervisor(self.venues, "", token.strip())
                if scheme.lower() == "bearer"
                else None
            )
            if found is None:
                return None
            return Session(found[0], found[1], "", self.clock() + 60, via="bearer")
        s = self.session(request)
        return s if s is not None and s.logged_in else None

    def set_cookie(self, request: web.Request, response: web.StreamResponse, s: Session) -> None:
        response.set_cookie(
            COOKIE, self.codec.encode(s), max_age=int(s.exp - self.clock()), path="/",
            httponly=True, samesite="Strict", secure=is_https(request),
        )  # fmt: skip

    async def csrf_ok(self, request: web.Request, s: Session) -> bool:
        """Whether the POST carries the session's CSRF token (header or form field)."""
        if s.via == "bearer":
            return True
        sent = request.headers.get("X-CSRF-Token", "")
        if not sent and request.content_type in FORM_TYPES:
            sent = str((await request.post()).get("csrf", ""))
        return bool(sent) and bool(s.csrf) and _same(sent, s.csrf)

    def throttled(self, client: str) -> bool:
        now = self.clock()
        q = self._failures.get(client)
        if q is None:
            return False
        while q and q[0] < now - FAILURE_WINDOW_S:
            q.popleft()
        return len(q) >= MAX_FAILURES

    def failed(self, client: str) -> None:
        if len(self._failures) > 10_000:  # a flood of clients must not grow this forever
            self._failures.clear()
        self._failures.setdefault(client, deque()).append(self.clock())


def is_https(request: web.Request) -> bool:
    """Whether the client reached us over https, directly or through a proxy."""
    forwarded = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    return request.secure or forwarded == "https"


def wants_json(request: web.Request) -> bool:
    """An API call (fetch, curl), as opposed to a browser's plain form post or page load."""
    if request.content_type in FORM_TYPES or request.method == "GET":
        accept = request.headers.get("Accept", "")
        return "application/json" in accept or "text/event-stream" in accept or (
            request.path.startswith("/api/") and "text/html" not in accept
        )  # fmt: skip
    return True


def see_other(location: str) -> web.Response:
    """A 303 redirect that can still carry cookies."""
    return web.Response(status=303, headers={"Location": location, "Cache-Control": "no-store"})


def protected(auth: Auth, *, page: bool = False) -> Callable[[Handler], Handler]:
    """Wrap a handler: no login gives 401 JSON (or 303 to /login for pages and form posts);
    a POST from a cookie session without its CSRF token gives 403."""

    def wrap(handler: Handler) -> Handler:
        async def inner(request: web.Request) -> web.StreamResponse:
            who = auth.who(request)
            if who is None:
                if page or not wants_json(request):
                    raise web.HTTPSeeOther("/login")
                return web.json_response(
                    {"error": "login required"}, status=401,
                    headers={"WWW-Authenticate": 'Bearer realm="pronto"'},
                )  # fmt: skip
            if request.method == "POST" and not await auth.csrf_ok(request, who):
                return web.json_response({"error": "missing or invalid CSRF token"}, status=403)
            request["who"] = who
            return await handler(request)

        return inner

    return wrap


def add_login_routes(router: web.UrlDispatcher, auth: Auth,
                     render_login: Callable[[str, str, str], str]) -> None:  # fmt: skip
    """`GET/POST /login` and `POST /logout`. `render_login(csrf, error, name)` is the page."""

    def page(request: web.Request, s: Session, error: str = "", name: str = "",
             status: int = 200) -> web.Response:  # fmt: skip
        resp = web.Response(text=render_login(s.csrf, error, name), status=status,
                            content_type="text/html", headers=NO_STORE)  # fmt: skip
        auth.set_cookie(request, resp, s)
        return resp

    async def login_form(request: web.Request) -> web.StreamResponse:
        if auth.who(request) is not None:
            raise web.HTTPSeeOther("/console")
        return page(request, auth.session(request) or auth.new_session())

    async def login(request: web.Request) -> web.StreamResponse:
        client = request.remote or "?"
        s = auth.session(request)
        form = await request.post() if request.content_type in FORM_TYPES else {}
        name, token = str(form.get("name", ""))[:80], str(form.get("token", ""))[:200]
        if s is None or not _same(str(form.get("csrf", "")), s.csrf):
            return page(request, auth.new_session(), "The login form expired. Please try again.",
                        name, status=403)  # fmt: skip
        if auth.throttled(client):
            return page(request, s, "Too many attempts. Wait a few minutes.", name, status=429)
        found = find_supervisor(auth.venues, name, token)
        if found is None:
            auth.failed(client)
            logger.warning("console login failed", extra={"client": client})
            return page(request, s, "Name or token not recognised.", name, status=401)
        fresh = auth.new_session(*found)  # a new CSRF token too: no session fixation
        logger.info("console login", extra={"supervisor": fresh.name})
        resp = see_other("/console")
        auth.set_cookie(request, resp, fresh)
        return resp

    @protected(auth, page=True)
    async def logout(request: web.Request) -> web.StreamResponse:
        resp = see_other("/login")
        resp.del_cookie(COOKIE, path="/")
        return resp

    router.add_get("/login", login_form)
    router.add_post("/login", login)
    router.add_post("/logout", logout)


NO_STORE = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
}
