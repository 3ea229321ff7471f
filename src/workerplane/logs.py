"""How every long-running command logs (``run``, ``serve``, ``up``): text by default, or one JSON
object per line (``--log-format json`` or ``WORKERPLANE_LOG_FORMAT=json``) for a log pipeline.

A JSON line carries ``ts`` (ISO 8601, UTC), ``level``, ``logger`` and ``message``; a line about a
scaling group also its ``version`` and ``group``, and a decision line its ``decision`` and
``reason`` (the cycle passes them with ``extra=``). ``exc`` holds a traceback when there is one.
Secrets are scrubbed in both formats, by the same scrubber
(:mod:`workerplane.security.redact`): at record creation for the message, and again here for
every field, so a secret passed in ``extra`` does not slip through either.
"""

from __future__ import annotations

import datetime
import enum
import json
import logging
import sys
from pathlib import Path
from typing import Any

from workerplane.security.redact import install_log_scrubber, scrub

#: The variable that chooses the format when ``--log-format`` is not given.
LOG_FORMAT_ENV = "WORKERPLANE_LOG_FORMAT"

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

#: Fields a record may carry in ``extra`` that a JSON line includes when present.
CONTEXT_FIELDS = ("version", "group", "decision", "reason")

#: Libraries that log a line per request or retry at INFO: quieter unless asked.
NOISY_LOGGERS = (
    "temporalio", "httpx", "urllib3", "kubernetes", "botocore", "uvicorn.access",
)  # fmt: skip


class LogFormat(enum.StrEnum):
    TEXT = "text"
    JSON = "json"


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": scrub(record.getMessage()),
        }
        for name in CONTEXT_FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                line[name] = scrub(value) if isinstance(value, str) else value
        if record.exc_info:
            line["exc"] = scrub(self.formatException(record.exc_info))
        elif record.exc_text:
            line["exc"] = scrub(record.exc_text)
        return json.dumps(line, ensure_ascii=False, default=str)


def configure_logging(
    *,
    verbose: bool = False,
    log_format: LogFormat = LogFormat.TEXT,
    log_file: Path | None = None,
) -> None:
    """Log to ``log_file`` (else stderr) in ``log_format``, secrets scrubbed; replaces any
    configuration made before."""
    install_log_scrubber()
    handler: logging.Handler
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(log_file)
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter() if log_format is LogFormat.JSON else logging.Formatter(TEXT_FORMAT)
    )
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO, handlers=[handler], force=True
    )
    for noisy in NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.WARNING)
