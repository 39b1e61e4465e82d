"""Small HTTP helpers for the end-to-end tests: signed Twilio webhooks and JSON calls."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from twilio.request_validator import RequestValidator

AUTH_TOKEN = "0123456789abcdef0123456789abcdef"
PUBLIC_URL = "https://pronto.example.test"


def post_sms(base: str, params: dict[str, str], *, token: str = AUTH_TOKEN,
             signature: str | None = None) -> tuple[int, str]:  # fmt: skip
    """POST a webhook, signed with twilio's own RequestValidator against the public URL."""
    body = urllib.parse.urlencode(params).encode()
    sig = signature if signature is not None else RequestValidator(token).compute_signature(
        f"{PUBLIC_URL}/sms/inbound", params)  # fmt: skip
    req = urllib.request.Request(f"{base}/sms/inbound", data=body, method="POST", headers={
        "Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": sig})  # fmt: skip
    return _send(req)


def sms_params(sid: str, sender: str, to: str, body: str) -> dict[str, str]:
    return {"MessageSid": sid, "SmsSid": sid, "AccountSid": "AC" + "0" * 32, "From": sender,
            "To": to, "Body": body, "NumMedia": "0", "NumSegments": "1"}  # fmt: skip


def request(
    method: str, url: str, data: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, str]:
    body = json.dumps(data).encode() if data is not None and not isinstance(data, bytes) else data
    hdrs = {"Content-Type": "application/json", **(headers or {})}
    return _send(urllib.request.Request(url, data=body, method=method, headers=hdrs))


def _send(req: urllib.request.Request) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(req, timeout=15) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
