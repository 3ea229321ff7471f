"""Automatic build IDs: a hash of what defines a worker, as temporal-worker-controller derives
its build ID from the pod template.

Two definitions that differ only in scaling knobs (min, max, targets) get the same build ID, so
resizing never makes a new version; a new image, command, environment or resource request does,
and the old version drains (docs/rollouts.md, Sunset).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

#: ``deployment.build_id: auto`` in a spec asks for a build ID derived by :func:`worker_build_id`.
AUTO_BUILD_ID = "auto"


def worker_build_id(definition: Any) -> str:
    """The build ID of a worker defined by ``definition`` (JSON-able: key order does not
    matter; values JSON cannot hold count by their text)."""
    text = json.dumps(definition, sort_keys=True, separators=(",", ":"), default=str)
    return "auto-" + hashlib.sha256(text.encode()).hexdigest()[:12]
