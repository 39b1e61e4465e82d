"""Logging: plain or JSON lines, with feedback ids and alert references, never phone numbers."""

from __future__ import annotations

import logging
import sys

from pipeline.phones import redact_phones

EXTRA_FIELDS = ("feedback_id", "ref", "page_id", "location", "channel", "label")


class RedactPhones(logging.Filter):
    """The last line of defence: anything shaped like a phone number is masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            msg = record.getMessage()
        except Exception:  # a bad format string must not lose the record
            return True
        clean = redact_phones(msg)
        if clean != msg:
            record.msg, record.args = clean, None
        return True


class PlainFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        base = super().format(record)
        extras = " ".join(f"{k}={getattr(record, k)}" for k in EXTRA_FIELDS if hasattr(record, k))
        return f"{base} {extras}" if extras else base


def setup_logging(level: str = "INFO", json_lines: bool = False, stream: object = None) -> None:
    """Configure the root logger once, for the CLI and the worker."""
    handler = logging.StreamHandler(stream or sys.stderr)  # type: ignore[arg-type]
    if json_lines:
        from pythonjsonlogger.json import JsonFormatter

        handler.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s",
                                           rename_fields={"levelname": "level", "name": "logger"}))  # fmt: skip
    else:
        handler.setFormatter(PlainFormatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    handler.addFilter(RedactPhones())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("aiokafka", "kafka", "faust", "mode"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    # "Timer ... woke up too late" is how a blocked event loop shows: keep it visible.
    logging.getLogger("mode.timers").setLevel(root.level)
