"""The example Lambda worker: the whole handler is one call to ``workerplane.worker.aws_lambda``.

Deployed, package this file with the ``examples`` package and workerplane. Locally,
serverless-offline runs it from this directory (see ``serverless.yml``), so the repository root is
put on ``sys.path`` to find ``examples.app``.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

_ROOT = Path(__file__).resolve().parents[2]
if (_ROOT / "examples" / "app.py").exists() and str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from examples.app import ProcessItem, process_item  # noqa: E402
from workerplane.worker.aws_lambda import handler_for  # noqa: E402

# Lambda's Python runtime configures the root logger; serverless-offline does not.
logging.basicConfig(
    level=os.environ.get("WORKERPLANE_LOG_LEVEL", "INFO"),
    format="%(asctime)s %(levelname)s [lambda %(process)d] %(name)s: %(message)s",
)

_run = handler_for(
    workflows=[ProcessItem],
    activities=[process_item],
    idle_exit_s=float(os.environ.get("WORKERPLANE_IDLE_EXIT_S", "3")),
    graceful_shutdown_s=float(os.environ.get("WORKERPLANE_GRACEFUL_SHUTDOWN_S", "5")),
    safety_margin_s=float(os.environ.get("WORKERPLANE_SAFETY_MARGIN_S", "2")),
    max_concurrent_activities=int(os.environ.get("WORKERPLANE_SLOTS", "4")),
)


def handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """Run the worker; with ``WORKERPLANE_LAMBDA_RESULTS`` set, also append the result to that
    JSON-lines file. Asynchronous invocations discard return values, so the tests and the
    benchmark read what each invocation returned from there.
    """
    started_at = time.time()
    result = _run(event, context)
    path = os.environ.get("WORKERPLANE_LAMBDA_RESULTS")
    if path:
        line = json.dumps({**result, "started_at": started_at, "ended_at": time.time()})
        with open(path, "a") as out:  # one short line per write: appends do not interleave
            out.write(line + "\n")
    return result
