"""The file-based edges of the controller: a YAML spec source and a JSON status file.

``workerplane run -f deploy.yaml`` uses these. Editing the YAML file while the controller runs
applies the change live (an invalid edit is reported and the last good spec is kept).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import fcntl
import json
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from workerplane.config.loader import SpecError, load_spec
from workerplane.config.model import DeploymentSpec
from workerplane.planning.status import (
    ControllerStatus,
    GroupStatus,
    ManagedVersion,
    VersionStatus,
)

logger = logging.getLogger("workerplane.controller")


class FileSpecSource:
    """Serves the deployment described by one YAML file, reloading it when it changes.

    A reload that changes a versioned spec's ``deployment.build_id`` (by hand, or through
    ``build_id: auto`` and a new image or command) is a new version: the previous one keeps
    running as draining, serving its pinned workflows until its sunset deletes it
    (docs/rollouts.md, Sunset). Going back to a build ID still draining makes it active again.
    """

    def __init__(self, path: Path) -> None:
        """Load ``path`` now; raises :class:`SpecError` if it is invalid."""
        self._path = path
        self._generation = 0
        self.last_error: str | None = None
        self._mtime = path.stat().st_mtime
        self._version = self._versioned(load_spec(path))
        #: Earlier versions of the file, draining, by key.
        self._draining: dict[str, ManagedVersion] = {}

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
            version = self._versioned(load_spec(self._path))
        except SpecError as err:
            self.last_error = str(err)
            logger.error("%s is invalid, keeping the last good spec: %s", self._path, err)
            return
        self.last_error = None
        previous, self._version = self._version, version
        self._draining.pop(version.key, None)
        if previous.key != version.key and previous.spec.deployment is not None:
            logger.info("%s is a new version: %s drains", self._path, previous.key)
            self._draining[previous.key] = dataclasses.replace(
                previous, draining=True, generation=self._generation
            )
        logger.info("%s changed: applying it", self._path)

    async def snapshot(self) -> list[ManagedVersion]:
        """The file's version, then the earlier versions still draining."""
        self._reload()
        return [self._version, *self._draining.values()]


class JsonStatusSink:
    """Writes every group's status, and the controller's own, to a JSON file that
    ``workerplane status`` reads.

    Keeps each group's serialized status, so a partial publish serializes only the groups that
    changed; the file is written in a thread, off the controller's event loop.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._groups: dict[tuple[str, str], str] = {}

    async def publish(
        self,
        statuses: list[GroupStatus],
        versions: Sequence[VersionStatus] = (),
        *,
        partial: bool = False,
        controller: ControllerStatus | None = None,
    ) -> None:
        """Write the groups' statuses; ``workerplane status`` shows groups, so ``versions``
        (which only regroup them with a readiness) are not written."""
        if not partial:
            self._groups = {}
        for status in statuses:
            self._groups[(status.version_key, status.group_id)] = json.dumps(
                dataclasses.asdict(status)
            )
        head = {
            "pid": os.getpid(),
            "controller": dataclasses.asdict(controller) if controller is not None else None,
        }
        text = json.dumps(head)[:-1] + ', "groups": [\n' + ",\n".join(self._groups.values())
        await asyncio.to_thread(self._write, text + "\n]}\n")

    def _write(self, text: str) -> None:
        tmp = self._path.with_name(f".{self._path.name}.tmp")
        tmp.write_text(text)
        os.replace(tmp, self._path)


def read_status_file(path: Path) -> tuple[int | None, list[GroupStatus]]:
    """The controller PID and group statuses from a status file (empty if there is none)."""
    payload = _read_payload(path)
    return payload.get("pid"), [GroupStatus(**g) for g in payload.get("groups", [])]


def read_controller_status(path: Path) -> ControllerStatus | None:
    """The controller's own status from a status file (``None`` if it has none)."""
    controller = _read_payload(path).get("controller")
    return ControllerStatus(**controller) if isinstance(controller, dict) else None


def _read_payload(path: Path) -> dict[str, Any]:
    try:
        payload = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return payload if isinstance(payload, dict) else {}


class StateDirLock:
    """An exclusive lock on a state directory: one controller acts on its workers at a time.

    ``fcntl.flock`` on ``<state_dir>/controller.lock``, held for the life of the process (the
    kernel releases it when the process exits or dies, however it dies). The file holds the
    holder's PID, to say who holds it.

    State shared beyond one machine needs a lease instead: ``serve`` takes one in its database,
    and the Kubernetes provider can elect a leader with a Kubernetes Lease.
    """

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / "controller.lock"
        state_dir.mkdir(parents=True, exist_ok=True)
        self._fd: int | None = None

    def acquire(self, on_wait: Callable[[int | None], None]) -> bool:
        """Take the lock; if another process holds it, call ``on_wait`` with its PID once and
        wait (standby) until it exits. Returns whether it had to wait."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        waited = False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            on_wait(self._holder(fd))
            waited = True
            fcntl.flock(fd, fcntl.LOCK_EX)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return waited

    @staticmethod
    def _holder(fd: int) -> int | None:
        with contextlib.suppress(OSError, ValueError):
            return int(os.pread(fd, 32, 0).decode().strip())
        return None
