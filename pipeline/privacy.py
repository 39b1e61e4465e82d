"""Phone numbers: a keyed hash for analytics, field-level encryption for answering back.

The plain topics carry `customer_ref` (HMAC-SHA256 under `PRONTO_SECRET_KEY`) and `contact`
(the number, Fernet-encrypted under a key derived from the same secret). Nothing else.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from typing import TYPE_CHECKING

from pipeline.phones import normalize_phone

if TYPE_CHECKING:
    from cryptography.fernet import Fernet

logger = logging.getLogger(__name__)


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
        # cryptography (8 MB resident) is imported on first use: only the processes that
        # encrypt or decrypt a number hold it.
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
