"""Keep secrets out of everything syncaudit prints or writes.

Every secret read through :func:`syncaudit.config.resolve_secret` is
registered here; :func:`redact` replaces registered values (and credential
shapes in URLs) before a message reaches a log, an exception text or a file.
"""

from __future__ import annotations

import logging
import re
import threading

_lock = threading.Lock()
_secrets: set[str] = set()

_URL_CREDENTIALS = re.compile(r"(?i)([?&](?:access_token|token|sid|session_id|client_secret|password)=)[^&\s]+")
_BEARER = re.compile(r"(?i)(authorization:\s*(?:bearer|oauth)\s+)\S+")


def register_secret(value: str) -> None:
    if value and len(value) >= 6:
        with _lock:
            _secrets.add(value)


def redact(text: str) -> str:
    if not text:
        return text
    with _lock:
        values = sorted(_secrets, key=len, reverse=True)
    for v in values:
        if v in text:
            text = text.replace(v, "***")
    text = _URL_CREDENTIALS.sub(r"\1***", text)
    return _BEARER.sub(r"\1***", text)


class RedactingFilter(logging.Filter):
    """A logging filter that redacts the rendered message of every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        clean = redact(msg)
        if clean != msg:
            record.msg, record.args = clean, None
        return True


def install_log_redaction() -> None:
    root = logging.getLogger()
    if not any(isinstance(f, RedactingFilter) for f in root.filters):
        root.addFilter(RedactingFilter())
    for h in root.handlers:
        if not any(isinstance(f, RedactingFilter) for f in h.filters):
            h.addFilter(RedactingFilter())
