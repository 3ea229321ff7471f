"""Where a scaling group's workers live on disk: one directory per (version key, group ID).

The mapping is one-to-one: each path component is the key made readable (unsafe characters become
``_``) plus a short hash of the exact key, so ``orders/v2`` and ``orders_v2`` never share a
directory (and so never adopt each other's workers).
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

logger = logging.getLogger("workerplane.providers.subprocess")

#: Keep components far below NAME_MAX (255) whatever the key's length.
_READABLE_MAX = 60


def group_directory(state_dir: Path, version_key: str, group_id: str) -> Path:
    """The directory of one scaling group's worker records, status files, logs and lease."""
    return state_dir / path_component(version_key) / path_component(group_id)


def path_component(key: str) -> str:
    """A file name that only ``key`` maps to: ``<readable>-<hash of the exact key>``."""
    digest = hashlib.sha256(key.encode()).hexdigest()[:10]
    return f"{readable(key)[:_READABLE_MAX]}-{digest}"


def readable(key: str) -> str:
    """``key`` with every character other than letters, digits, ``-``, ``_`` and ``.`` as ``_``
    (the whole name of a directory before this layout, and now its readable part)."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in key) or "_"


def warn_if_legacy_directory(state_dir: Path, version_key: str, group_id: str) -> None:
    """Say so when workers of the layout before keys mapped one-to-one exist: they are not
    adopted (two keys could share that directory), and leave once idle since their lease is no
    longer renewed."""
    legacy = state_dir / readable(version_key) / readable(group_id)
    current = group_directory(state_dir, version_key, group_id)
    if not current.exists() and any(legacy.glob("w-*.json")):
        logger.warning(
            "%s holds workers of an older workerplane; they are not adopted and leave once "
            "idle (their lease is no longer renewed)",
            legacy,
        )
