"""Where a scaling group's workers live on disk: one directory per (version key, group ID).

The mapping is one-to-one: each path component is the key made readable (unsafe characters become
``_``) plus a short hash of the exact key, so ``orders/v2`` and ``orders_v2`` never share a
directory (and so never adopt each other's workers).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

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


def legacy_group_directory(state_dir: Path, version_key: str, group_id: str) -> Path:
    """Where workerplane before the one-to-one layout kept the group (keys could collide)."""
    return state_dir / readable(version_key) / readable(group_id)
