"""Redaction of secrets in API responses, and a logging filter that scrubs them from log lines.

Which provider details keys are secret comes from :func:`workerplane.config.provider_details.
secret_fields`; on top of that, any key whose name says it holds a secret (``password``,
``token``, ``api_key``, ...) is treated as one, so a new provider cannot leak by omission.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any

REDACTED = "***REDACTED***"

_SECRET_NAME = re.compile(
    r"(pass(word|wd)?|secret|token|api[_-]?key|private[_-]?key|credential|kubeconfig|"
    r"external[_-]?id|auth)",
    re.IGNORECASE,
)


def looks_secret(name: str) -> bool:
    """Whether a key name suggests the value is a secret."""
    return bool(_SECRET_NAME.search(name))


def provider_secret_fields(provider_type: str) -> set[str]:
    """Secret detail keys of a provider type (declared ones; empty for unknown types)."""
    try:
        from workerplane.config.provider_details import secret_fields
    except ImportError:  # pragma: no cover - the module ships with the package
        return set()
    try:
        return set(secret_fields(provider_type))
    except (KeyError, ValueError):
        return set()


def secret_keys(provider_type: str, details: Mapping[str, Any]) -> list[str]:
    """The keys of ``details`` that hold secrets."""
    declared = provider_secret_fields(provider_type)
    return [key for key in details if key in declared or looks_secret(key)]


def redact_mapping(values: Mapping[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    """A copy of ``values`` with the given keys replaced by :data:`REDACTED`."""
    hidden = set(keys)
    return {key: (REDACTED if key in hidden else value) for key, value in values.items()}


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
