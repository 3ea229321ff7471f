"""The redaction marker, and a logging filter that scrubs secret values from log lines.

Which values are secret is decided by the models (fields typed
:data:`workerplane.config.secret_field.Secret`); that type registers every value it reveals, seals
or opens here, so the filter can scrub it wherever it appears.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any

#: What every secret is replaced by in output (API responses, CLI dumps, log lines).
REDACTED = "***REDACTED***"


class _SecretRegistry:
    """Secret values seen by this process, so the log filter can scrub them wherever they appear."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()

    def add(self, value: str) -> None:
        # Very short values would scrub ordinary words; they are not plausible secrets anyway.
        if len(value) < 4 or value in self._values:
            return
        with self._lock:
            self._values.add(value)
            ordered = sorted(self._values, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(v) for v in ordered))

    def scrub(self, text: str) -> str:
        pattern = self._pattern
        return pattern.sub(REDACTED, text) if pattern is not None else text


SECRETS = _SecretRegistry()

#: Bearer tokens and workerplane tokens are scrubbed even if never registered.
_ALWAYS = re.compile(r"(Bearer\s+)\S+|wpt_[A-Za-z0-9_\-]{8,}", re.IGNORECASE)


def register_secret(value: str) -> None:
    """Remember a secret value so it is scrubbed from every log line of this process."""
    SECRETS.add(value)


def scrub(text: str) -> str:
    """Remove every known secret from ``text``."""
    text = SECRETS.scrub(text)
    return _ALWAYS.sub(lambda m: (m.group(1) or "") + REDACTED, text)


class SecretScrubFilter(logging.Filter):
    """Rewrites each record's message with secrets removed (and drops its args)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not break logging
            message = str(record.msg)
        cleaned = scrub(message)
        if cleaned != message or record.args:
            record.msg = cleaned
            record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            # The formatted traceback may quote a secret; render it now and scrub it.
            formatter = logging.Formatter()
            record.exc_text = scrub(formatter.formatException(record.exc_info))
            record.exc_info = None
        return True


_FACTORY_INSTALLED: list[bool] = [False]


def install_log_scrubber() -> None:
    """Scrub every log record of this process at creation time (idempotent).

    A filter on the root logger does not see records propagated from child loggers, and handlers
    come and go (uvicorn's, pytest's). Wrapping the record factory covers every record, whatever
    logger or handler it goes through.
    """
    if _FACTORY_INSTALLED[0]:
        return
    previous = logging.getLogRecordFactory()
    scrubber = SecretScrubFilter()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        scrubber.filter(record)
        return record

    logging.setLogRecordFactory(factory)
    _FACTORY_INSTALLED[0] = True
