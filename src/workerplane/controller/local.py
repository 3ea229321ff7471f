"""The file-based edges of the controller: a YAML spec source and a JSON status file.

``workerplane run -f deploy.yaml`` uses these. Editing the YAML file while the controller runs
applies the change live (an invalid edit is reported and the last good spec is kept).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path

from workerplane.config.loader import SpecError, load_spec
from workerplane.config.model import DeploymentSpec
from workerplane.planning.status import GroupStatus, ManagedVersion, VersionStatus

logger = logging.getLogger("workerplane.controller")


class FileSpecSource:
    """Serves the deployment described by one YAML file, reloading it when it changes."""

    def __init__(self, path: Path) -> None:
        """Load ``path`` now; raises :class:`SpecError` if it is invalid."""
        self._path = path
        self._generation = 0
        self.last_error: str | None = None
        self._mtime = path.stat().st_mtime
        self._version = self._versioned(load_spec(path))

    @property
    def spec(self) -> DeploymentSpec:
        """The last valid spec the file held."""
        return self._version.spec

    def _versioned(self, spec: DeploymentSpec) -> ManagedVersion:
        self._generation += 1
        key = spec.name if spec.deployment is None else f"{spec.name}/{spec.deployment.build_id}"
        return ManagedVersion(key=key, spec=spec, generation=self._generation)

    def _reload(self) -> None:
        try:
            mtime = self._path.stat().st_mtime
        except OSError as err:
            self.last_error = f"{self._path}: {err.strerror}"
            return
        if mtime == self._mtime:
            return
        self._mtime = mtime
        try:
            self._version = self._versioned(load_spec(self._path))
        except SpecError as err:
            self.last_error = str(err)
            logger.error("%s is invalid, keeping the last good spec: %s", self._path, err)
            return
        self.last_error = None
        logger.info("%s changed: applying it", self._path)

    async def snapshot(self) -> list[ManagedVersion]:
        self._reload()
        return [self._version]


class JsonStatusSink:
    """Writes every group's status to a JSON file that ``workerplane status`` reads."""

    def __init__(self, path: Path) -> None:
        self._path = path
        path.parent.mkdir(parents=True, exist_ok=True)

    async def publish(
        self, statuses: list[GroupStatus], versions: Sequence[VersionStatus] = ()
    ) -> None:
        """Write the groups' statuses; ``workerplane status`` shows groups, so ``versions``
        (which only regroup them with a readiness) are not written."""
        payload = {"pid": os.getpid(), "groups": [dataclasses.asdict(s) for s in statuses]}
        tmp = self._path.with_name(f".{self._path.name}.tmp")
        tmp.write_text(json.dumps(payload, indent=1))
        os.replace(tmp, self._path)


def read_status_file(path: Path) -> tuple[int | None, list[GroupStatus]]:
    """The controller PID and group statuses from a status file (empty if there is none)."""
    try:
        payload = json.loads(path.read_text())
    except (OSError, ValueError):
        return None, []
    return payload.get("pid"), [GroupStatus(**g) for g in payload.get("groups", [])]
