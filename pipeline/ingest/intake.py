"""Turn what a customer sent into a `Feedback` record: ids, references, score, language.

Pure apart from the injected `Privacy`: the caller passes the clock value and the location.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import uuid

from pipeline.config import Location
from pipeline.ingest.lang import detect_language
from pipeline.privacy import Privacy
from pipeline.records import Feedback
from pipeline.scoring.extract import extract_score

logger = logging.getLogger(__name__)

CHANNELS = ("sms", "whatsapp", "web", "api", "kiosk")
_READABLE = str.maketrans("ILOU01", "ABCDEF")  # Crockford-ish: reads well over the phone


def feedback_id(channel: str, external_id: str = "") -> str:
    """A feedback id: derived from an external id (Twilio's MessageSid) when there is one,
    so that a retried webhook makes the same record; otherwise random.

    >>> feedback_id("sms", "SM123")
    'sms-SM123'
    """
    if external_id:
        return f"{channel}-{external_id}"
    return f"{channel}-{uuid.uuid4().hex}"


def feedback_ref(fid: str) -> str:
    """The short reference the customer is given (ISO 10002: a unique reference).

    >>> feedback_ref("sms-SM123") == feedback_ref("sms-SM123")
    True
    >>> len(feedback_ref("sms-SM123"))
    6
    """
    digest = hashlib.sha256(fid.encode()).digest()
    # Base32 writes each 5 bytes as 8 letters of their own: the first 5 give the first 6.
    return base64.b32encode(digest[:5]).decode().translate(_READABLE)[:6]


def build_feedback(
    *,
    fid: str,
    channel: str,
    location: Location | None,
    location_id: str,
    phone: str,
    text: str,
    received_at: float,
    privacy: Privacy,
    score: int | None = None,
    scale: str | None = None,
    meta: dict[str, object] | None = None,
) -> Feedback:
    """Build the record. An explicit score (a form's button) wins over one found in the text."""
    default_scale = location.scale if location else "csat5"
    default_lang = location.lang if location else "es"
    if score is None and text:
        found = extract_score(text, default_scale)
        if found is not None:
            score, scale = found.score, found.scale
    if score is not None and scale is None:
        scale = default_scale
    lang = detect_language(text, default=default_lang) if text else default_lang
    return Feedback(
        id=fid,
        received_at=received_at,
        channel=channel,
        location_id=location_id,
        customer_ref=privacy.customer_ref(phone),
        score=score,
        scale=scale,
        text=text,
        lang=lang,
        contact=privacy.encrypt(phone),
        meta={"ref": feedback_ref(fid), **(meta or {})},
    )
