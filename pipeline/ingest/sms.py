"""`POST /sms/inbound` (the Twilio Messaging webhook) and `POST /sms/status` (delivery reports).

The webhook checks X-Twilio-Signature against PRONTO_PUBLIC_URL + path, so it works behind a
proxy; answers with TwiML at once (Twilio gives up after 15 s); and stores the feedback in Kafka
before it answers 200. Opt-out, opt-in, help and status keywords are answered and never scored.
A message from a supervisor's phone is a reply to a page ("OK 4821").
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape as xml_escape

from aiohttp import web

from pipeline.alert_index import alert_ref, last_paged, summary_of
from pipeline.alerts import messages
from pipeline.alerts.replies import parse_supervisor_reply
from pipeline.ingest import answers
from pipeline.ingest.intake import build_feedback, feedback_id
from pipeline.ingest.keywords import KeywordKind, classify_keyword, keyword_reply
from pipeline.ingest.service import Ingest, KafkaUnavailable
from pipeline.ingest.signature import SignatureCheck
from pipeline.phones import normalize_phone

if TYPE_CHECKING:
    from pipeline.app import Pronto

logger = logging.getLogger(__name__)


TWIML_HEAD = '<?xml version="1.0" encoding="UTF-8"?>'


def twiml_xml(text: str | None) -> str:
    """The TwiML that replies `text` (nothing when empty): the very bytes that the library's
    `MessagingResponse` gives (`tests/unit/test_twiml.py`), without building an element tree
    per webhook (3% of the web process's CPU at 300 webhooks/s).

    >>> twiml_xml("a < b")
    '<?xml version="1.0" encoding="UTF-8"?><Response><Message>a &lt; b</Message></Response>'
    """
    if not text:
        return TWIML_HEAD + "<Response />"
    return f"{TWIML_HEAD}<Response><Message>{xml_escape(text)}</Message></Response>"


def twiml(text: str | None) -> web.Response:
    return web.Response(text=twiml_xml(text), content_type="application/xml")


class SmsWebhook:
    def __init__(self, ctx: Pronto, ingest: Ingest) -> None:
        self.ctx = ctx
        self.ingest = ingest
        token = ctx.settings.twilio_auth_token.get_secret_value()
        self.validator = SignatureCheck(token) if token else None
        self.supervisors = {
            normalize_phone(s.phone): (loc, s)
            for loc in ctx.venues.locations
            for s in loc.supervisors
        }

    def signature_ok(self, request: web.Request, params: dict[str, str]) -> bool:
        if not self.ctx.settings.verify_signatures:
            return True
        if self.validator is None:
            logger.error("PRONTO_TWILIO_AUTH_TOKEN is not set: every signed webhook is refused")
            return False
        base = self.ctx.settings.public_url.rstrip("/") or f"{request.scheme}://{request.host}"
        url = base + request.rel_url.path_qs
        sig = request.headers.get("X-Twilio-Signature", "")
        return self.validator.valid(url, params, sig)

    async def _form(self, request: web.Request) -> dict[str, str] | web.Response:
        if request.content_type != "application/x-www-form-urlencoded":
            self.ctx.metrics.feedback_rejected.labels("content_type").inc()
            return web.Response(status=415, text="expected application/x-www-form-urlencoded")
        try:
            form = await request.post()
        except web.HTTPRequestEntityTooLarge:
            self.ctx.metrics.feedback_rejected.labels("too_large").inc()
            return web.Response(status=413, text="request body too large")
        except ValueError:
            self.ctx.metrics.feedback_rejected.labels("malformed").inc()
            return web.Response(status=400, text="malformed form body")
        params = {k: str(v) for k, v in form.items()}
        if not self.signature_ok(request, params):
            self.ctx.metrics.feedback_rejected.labels("signature").inc()
            logger.warning("webhook refused: bad or missing X-Twilio-Signature")
            return web.Response(status=403, text="invalid signature")
        return params

    async def inbound(self, request: web.Request) -> web.Response:
        received_at = time.time()
        params = await self._form(request)
        if isinstance(params, web.Response):
            return params
        sid = params.get("MessageSid") or params.get("SmsSid") or ""
        sender = params.get("From", "")
        if not sid or not sender:
            self.ctx.metrics.feedback_rejected.labels("missing_field").inc()
            return web.Response(status=400, text="MessageSid and From are required")
        if not self.ingest.limiter.allow(self.ctx.privacy.customer_ref(sender), received_at):
            self.ctx.metrics.feedback_rejected.labels("rate_limited").inc()
            return web.Response(status=429, text="too many messages", headers={"Retry-After": "10"})
        body = params.get("Body", "")[:1600]
        channel = "whatsapp" if sender.startswith("whatsapp:") else "sms"
        try:
            sup = self.supervisors.get(normalize_phone(sender.removeprefix("whatsapp:")))
            if sup is not None:
                return await self._supervisor(sup, sender, body)
            loc, location_id, text = self.ingest.locate(params.get("To", ""), body)
            lang_default = loc.lang if loc else "es"
            kw = classify_keyword(body)
            if kw is not None:
                return await self._keyword(kw, sender, lang_default, loc.name if loc else "Pronto")
            fb = build_feedback(
                fid=feedback_id(channel, sid), channel=channel, location=loc,
                location_id=location_id, phone=sender, text=text, received_at=received_at,
                privacy=self.ctx.privacy,
                meta={"num_media": params.get("NumMedia", "0")},
            )  # fmt: skip
            if loc is None:
                self.ctx.metrics.feedback_rejected.labels("unknown_location").inc()
            ref, complaint = await self.ingest.store(fb)
        except KafkaUnavailable:
            return web.Response(
                status=503, text="feedback store unavailable", headers={"Retry-After": "5"}
            )
        if self.ingest.opted_out(fb.customer_ref):
            return twiml(None)  # they asked for nothing, ever: store silently
        return twiml(
            messages.ack_text(loc, fb.lang, ref, complaint)
            if loc
            else answers.unknown_location_ack(fb.lang, ref)
        )

    async def _keyword(self, kw, sender: str, lang: str, venue: str) -> web.Response:  # type: ignore[no-untyped-def]
        cref = self.ctx.privacy.customer_ref(sender)
        self.ctx.metrics.keywords.labels(str(kw.kind)).inc()
        if kw.kind == KeywordKind.OPT_OUT:
            await self.ingest.set_optout(cref, True)
        elif kw.kind == KeywordKind.OPT_IN:
            await self.ingest.set_optout(cref, False)
        elif kw.kind == KeywordKind.STATUS:
            index = self.ingest.alerts.state
            summary = summary_of(index, alert_ref(index, kw.ref.upper()))
            return twiml(answers.status_reply(kw.ref.upper(), summary, lang))
        return twiml(keyword_reply(kw, lang, venue))

    async def _supervisor(self, sup, sender: str, body: str) -> web.Response:  # type: ignore[no-untyped-def]
        loc, supervisor = sup
        reply = parse_supervisor_reply(body)
        if reply is None:
            return twiml(answers.supervisor_help(supervisor.lang))
        ref = reply.ref
        if not ref:
            ref = last_paged(self.ingest.alerts.state, f"{supervisor.name}@{loc.id}")
        if not ref:
            return twiml(answers.supervisor_help(supervisor.lang))
        summary = summary_of(self.ingest.alerts.state, ref)
        location_id = summary["location_id"] if summary else loc.id
        await self.ingest.command(location_id, {
            "type": str(reply.action), "ref": ref, "by": supervisor.name, "channel": "sms",
        })  # fmt: skip
        return twiml(answers.supervisor_confirm(str(reply.action), ref, supervisor.lang))

    async def status(self, request: web.Request) -> web.Response:
        params = await self._form(request)
        if isinstance(params, web.Response):
            return params
        status = params.get("MessageStatus", "")
        page_id = request.query.get("page", "")
        ref = page_id[1:].split("-")[0] if page_id.startswith("P") else ""
        # Only a failed page is acted on: the other reports (queued, sent, delivered, one
        # each per page) need no decode of the alert.
        failed = status in ("failed", "undelivered")
        summary = summary_of(self.ingest.alerts.state, ref) if ref and failed else None
        if summary:
            await self.ingest.command(summary["location_id"], {
                "type": "delivery_failed", "page_id": page_id, "ref": ref, "status": status,
                "error": params.get("ErrorCode", ""),
            })  # fmt: skip
            self.ctx.metrics.pages_failed.labels("sms", status).inc()
            logger.warning("page %s %s: escalating", page_id, status, extra={"ref": ref})
        return web.Response(status=204)
