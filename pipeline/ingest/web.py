"""`GET/POST /f/{location_id}` (the QR-code form) and `POST /api/v1/feedback` (the JSON API).

Both validate the same way (`validate_submission`) and answer 2xx only once Kafka has the
record. The form works without JavaScript; the page's script only enhances it.
"""

from __future__ import annotations

import json
import logging
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from pipeline.config import Location
from pipeline.ingest import form_page
from pipeline.ingest.intake import build_feedback, feedback_id
from pipeline.ingest.service import Ingest, KafkaUnavailable
from pipeline.phones import normalize_phone

if TYPE_CHECKING:
    from pipeline.app import Pronto

logger = logging.getLogger(__name__)

MAX_TEXT = 1000
MAX_DEPTH = 3


class ValidationError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def _depth(obj: Any, level: int = 0) -> int:
    if level > MAX_DEPTH:
        return level
    if isinstance(obj, dict):
        return max([_depth(v, level + 1) for v in obj.values()] or [level + 1])
    if isinstance(obj, list):
        return max([_depth(v, level + 1) for v in obj] or [level + 1])
    return level


def validate_submission(data: Any, loc: Location | None) -> tuple[int | None, str | None, str, str]:
    """(score, scale, text, phone) from a submission, or `ValidationError` naming the field.

    >>> validate_submission({"score": "4", "comment": "ok"}, None)
    (4, 'csat5', 'ok', '')
    """
    if not isinstance(data, dict):
        raise ValidationError("body", "a JSON object")
    if _depth(data) > MAX_DEPTH:
        raise ValidationError("body", "nested too deeply")
    scale = data.get("scale") or (loc.scale if loc else "csat5")
    if scale not in ("csat5", "nps10"):
        raise ValidationError("scale", "csat5 or nps10")
    raw_score = data.get("score")
    score: int | None = None
    if raw_score not in (None, ""):
        if isinstance(raw_score, bool) or not isinstance(raw_score, int | str):
            raise ValidationError("score", "an integer")
        try:
            score = int(str(raw_score).strip())
        except ValueError:
            raise ValidationError("score", "an integer") from None
        low, high = (1, 5) if scale == "csat5" else (0, 10)
        if not low <= score <= high:
            raise ValidationError("score", f"between {low} and {high} on {scale}")
    text = data.get("comment", data.get("text", "")) or ""
    if not isinstance(text, str):
        raise ValidationError("comment", "a string")
    if len(text) > MAX_TEXT:
        raise ValidationError("comment", f"at most {MAX_TEXT} characters")
    phone = data.get("phone", "") or ""
    if not isinstance(phone, str):
        raise ValidationError("phone", "a string")
    if phone:
        norm = normalize_phone(phone)
        digits = sum(c.isdigit() for c in norm)
        if not norm.startswith("+") or not 8 <= digits <= 15:
            raise ValidationError("phone", "an international number such as +34600000000")
        phone = norm
    if score is None and not text.strip():
        raise ValidationError("score", "a score or a comment is required")
    return score, (scale if score is not None else None), text.strip(), phone


class WebIntake:
    def __init__(self, ctx: Pronto, ingest: Ingest) -> None:
        self.ctx = ctx
        self.ingest = ingest

    def _client(self, request: web.Request) -> str:
        return request.remote or "?"

    async def _store(
        self,
        loc: Location,
        channel: str,
        score: int | None,
        scale: str | None,
        text: str,
        phone: str,
        received_at: float,
        key: str = "",
    ) -> str:
        fb = build_feedback(
            fid=feedback_id(channel, key), channel=channel, location=loc, location_id=loc.id,
            phone=phone, text=text, received_at=received_at, privacy=self.ctx.privacy,
            score=score, scale=scale,
        )  # fmt: skip
        return (await self.ingest.store(fb)).ref

    def _page_target(self, request: web.Request) -> tuple[Location | None, str, bool]:
        """The form's location (None: unknown), its language and whether it is a kiosk."""
        loc = self.ctx.venues.by_id(request.match_info["location_id"])
        lang = form_page.pick_lang(request.headers.get("Accept-Language", ""), loc)
        return loc, lang, request.query.get("kiosk") == "1"

    async def form(self, request: web.Request) -> web.Response:
        loc, lang, kiosk = self._page_target(request)
        if loc is None:
            return web.Response(
                status=404, text=form_page.not_found(lang), content_type="text/html"
            )
        return web.Response(text=form_page.render_form(loc, lang, kiosk), content_type="text/html")

    async def submit_form(self, request: web.Request) -> web.Response:
        received_at = time.time()
        loc, lang, kiosk = self._page_target(request)
        if loc is None:
            return web.Response(
                status=404, text=form_page.not_found(lang), content_type="text/html"
            )
        if request.content_type not in ("application/x-www-form-urlencoded", "multipart/form-data"):
            return web.Response(status=415, text="unsupported content type")
        if not self.ingest.limiter.allow(self._client(request), received_at):
            self.ctx.metrics.feedback_rejected.labels("rate_limited").inc()
            return web.Response(status=429, text=form_page.too_many(lang), content_type="text/html",
                                headers={"Retry-After": "10"})  # fmt: skip
        try:
            data = {k: str(v) for k, v in (await request.post()).items()}
            score, scale, text, phone = validate_submission(data, loc)
            ref = await self._store(loc, "kiosk" if kiosk else "web", score, scale, text, phone,
                                    received_at)  # fmt: skip
        except web.HTTPRequestEntityTooLarge:
            return web.Response(status=413, text="request body too large")
        except ValidationError as e:
            self.ctx.metrics.feedback_rejected.labels("invalid").inc()
            html = form_page.render_form(loc, lang, kiosk, error=e)
            return web.Response(status=400, text=html, content_type="text/html")
        except KafkaUnavailable:
            return web.Response(status=503, text=form_page.unavailable(lang), content_type="text/html",
                                headers={"Retry-After": "5"})  # fmt: skip
        return web.Response(
            text=form_page.render_thanks(loc, lang, ref, kiosk), content_type="text/html"
        )

    async def api(self, request: web.Request) -> web.Response:
        received_at = time.time()

        def err(status: int, field: str, message: str) -> web.Response:
            self.ctx.metrics.feedback_rejected.labels(
                {400: "invalid", 413: "too_large", 415: "content_type", 429: "rate_limited"}.get(
                    status, "invalid"
                )
            ).inc()
            return web.json_response({"error": message, "field": field}, status=status)

        if request.content_type != "application/json":
            return err(415, "content-type", "expected application/json")
        if (
            request.content_length is not None
            and request.content_length > self.ctx.settings.max_body_bytes
        ):
            return err(413, "body", f"at most {self.ctx.settings.max_body_bytes} bytes")
        if not self.ingest.limiter.allow(self._client(request), received_at):
            resp = err(429, "client", "rate limit exceeded; retry later")
            resp.headers["Retry-After"] = "10"
            return resp
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return err(413, "body", f"at most {self.ctx.settings.max_body_bytes} bytes")
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            return err(400, "body", "not valid JSON")
        except RecursionError:  # "[[[[...": the parser gives up before the depth check can
            return err(400, "body", "nested too deeply")
        if not isinstance(data, dict):
            return err(400, "body", "a JSON object")
        loc_id = data.get("location_id")
        loc = self.ctx.venues.by_id(loc_id) if isinstance(loc_id, str) else None
        if loc is None:
            return err(400, "location_id", "an existing location id")
        key = request.headers.get("Idempotency-Key", "")
        if key and (len(key) > 64 or not key.replace("-", "").replace("_", "").isalnum()):
            return err(400, "Idempotency-Key", "up to 64 letters, digits, '-' or '_'")
        try:
            score, scale, text, phone = validate_submission(data, loc)
            ref = await self._store(loc, "api", score, scale, text, phone, received_at, key)
        except ValidationError as e:
            return err(400, e.field, e.message)
        except KafkaUnavailable:
            return web.json_response({"error": "feedback store unavailable, retry"}, status=503,
                                     headers={"Retry-After": "5"})  # fmt: skip
        return web.json_response({"ref": ref, "status": "stored"}, status=201)
