"""Phone numbers as text: normalised, masked for a log line, redacted from free text.

Pure, and without the hashing and encryption of `pipeline/privacy.py`: the supervisor, which
only logs, imports this module and no OpenSSL (about 4 MB resident).
"""

from __future__ import annotations

import re

# International numbers (+ then 8-15 digits, maybe spaced) or a bare run of 9-15 digits.
# IP addresses, times and ports do not match.
_PHONE_RE = re.compile(r"\+\d(?:[ -]?\d){7,14}(?!\d)|(?<![\d.])\d{9,15}(?![\d.])")


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
