"""Phone numbers: a keyed hash for analytics, field-level encryption for answering back.

The plain topics carry `customer_ref` (HMAC-SHA256 under `PRONTO_SECRET_KEY`) and `contact`
(the number, Fernet-encrypted under a key derived from the same secret). Nothing else.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography.fernet import Fernet

logger = logging.getLogger(__name__)

# International numbers (+ then 8-15 digits, maybe spaced) or a bare run of 9-15 digits.
# IP addresses, times and ports do not match.
_PHONE_RE = re.compile(r"\+\d(?:[ -]?\d){7,14}(?!\d)|(?<![\d.])\d{9,15}(?![\d.])")


class Privacy:
    """Hashes and encrypts phone numbers under one secret.

    >>> p = Privacy("k")
    >>> p.customer_ref("+34600000001") == p.customer_ref("+34 600 000 001")
    True
    >>> p.decrypt(p.encrypt("+34600000001"))
    '+34600000001'
    """

    def __init__(self, secret: str) -> None:
        self._mac_key = hashlib.sha256(b"pronto-ref|" + secret.encode()).digest()
        self._fernet_key = base64.urlsafe_b64encode(
            hashlib.sha256(b"pronto-fernet|" + secret.encode()).digest()
        )
        self._fernet_box: Fernet | None = None

    @property
    def _fernet(self) -> Fernet:
        # cryptography is imported on first use: the supervisor, which only logs (with
        # `redact_phones` from this module), never holds it (8 MB resident).
        if self._fernet_box is None:
            from cryptography.fernet import Fernet

            self._fernet_box = Fernet(self._fernet_key)
        return self._fernet_box

    def customer_ref(self, phone: str) -> str:
        """A stable pseudonym for a phone number (empty for no number)."""
        norm = normalize_phone(phone)
        if not norm:
            return ""
        return "c_" + hmac.new(self._mac_key, norm.encode(), hashlib.sha256).hexdigest()[:24]

    def encrypt(self, phone: str) -> str:
        return self._fernet.encrypt(phone.encode()).decode() if phone else ""

    def decrypt(self, token: str) -> str:
        """The number, or "" if there is none or it was encrypted under another key."""
        if not token:
            return ""
        from cryptography.fernet import InvalidToken

        try:
            return self._fernet.decrypt(token.encode()).decode()
        except (InvalidToken, ValueError):
            logger.warning("a contact token could not be decrypted (rotated secret?)")
            return ""


def normalize_phone(phone: str) -> str:
    """Keep the channel prefix, a leading '+', and digits.

    >>> normalize_phone("whatsapp:+34 600-000-001")
    'whatsapp:+34600000001'
    """
    prefix = ""
    if ":" in phone:
        prefix, phone = phone.split(":", 1)
        prefix += ":"
    digits = re.sub(r"[^\d]", "", phone)
    if not digits:
        return ""
    return f"{prefix}{'+' if phone.strip().startswith('+') else ''}{digits}"


def mask_phone(number: str) -> str:
    """`number` fit for a log line: country prefix and last four digits only.

    >>> mask_phone("+34600000001")
    '+34•••••0001'
    >>> mask_phone("whatsapp:+14155550123")
    'whatsapp:+14•••••0123'
    >>> mask_phone("12345")
    '•••45'
    """
    prefix, _, rest = number.rpartition(":")
    prefix = prefix + ":" if prefix else ""
    plus = "+" if rest.startswith("+") else ""
    digits = rest[len(plus) :]
    if len(digits) < 8:  # too short to show both ends without giving it all away
        return prefix + plus + "•" * max(len(digits) - 2, 0) + digits[-2:]
    return prefix + plus + digits[:2] + "•" * (len(digits) - 6) + digits[-4:]


def redact_phones(text: str) -> str:
    """Replace anything shaped like a phone number in free text (customer text in logs).

    >>> redact_phones("call me on +34 600 000 001 pls")
    'call me on [phone] pls'
    """
    return _PHONE_RE.sub("[phone]", text)
