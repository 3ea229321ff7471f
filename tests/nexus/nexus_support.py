"""Helpers for the Nexus provider tests: a handler namespace and endpoint on the dev server, and
the handler run as a real ``workerplane nexus-handler`` process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.controller.support import REPO_ROOT, subprocess_group
from workerplane.temporal.devserver import temporal_cli

#: The namespace handlers run in (not the one the controller and the workers use).
HANDLER_NAMESPACE = "workerplane-handlers"


def temporal(address: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the ``temporal`` CLI against the dev server."""
    return subprocess.run(
        [temporal_cli(), *args, "--address", address],
        capture_output=True,
        text=True,
        timeout=60,
    )


def create_namespace(address: str, namespace: str, timeout_s: float = 60.0) -> None:
    """Create ``namespace`` and wait until the server serves it."""
    temporal(address, "operator", "namespace", "create", "--namespace", namespace)
    deadline = time.monotonic() + timeout_s
    while temporal(
        address, "operator", "namespace", "describe", "--namespace", namespace
    ).returncode:
        if time.monotonic() > deadline:
            raise TimeoutError(f"namespace {namespace} was not created")
        time.sleep(0.2)


def create_endpoint(address: str, name: str, namespace: str, task_queue: str) -> None:
    """``temporal operator nexus endpoint create``, as a team would run it."""
    done = temporal(
        address,
        "operator",
        "nexus",
        "endpoint",
        "create",
        "--name",
        name,
        "--target-namespace",
        namespace,
        "--target-task-queue",
        task_queue,
    )
    assert done.returncode == 0, done.stderr


def nexus_group(endpoint: str, **kwargs: Any) -> dict[str, Any]:
    """The example worker's group, driven through ``endpoint``."""
    group = subprocess_group(**kwargs)
    group["provider"]["nexus_endpoint"] = endpoint
    return group


@dataclass
class HandlerProcess:
    """``workerplane nexus-handler`` wrapping the subprocess provider, as a real process."""

    address: str
    task_queue: str
    directory: Path
    pinned: dict[str, Any] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def state_dir(self) -> Path:
        return self.directory / "state"

    @property
    def log(self) -> Path:
        return self.directory / "handler.log"

    def start(self, timeout_s: float = 60.0) -> None:
        """Start the handler and wait until it serves the endpoint's queue."""
        provider_file = self.directory / "provider.yaml"
        # The team pins where its workers run from; the caller chooses the rest.
        provider_file.write_text(
            yaml.safe_dump(
                {"type": "subprocess", "details": {"cwd": str(REPO_ROOT), **self.pinned}}
            )
        )
        self.starts += 1
        marker = f"serving subprocess (start {self.starts})"
        with open(self.log, "ab") as log:
            log.write(f"--- {marker}\n".encode())
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "workerplane.cli.main",
                    "nexus-handler",
                    "--address",
                    self.address,
                    "--namespace",
                    HANDLER_NAMESPACE,
                    "--task-queue",
                    self.task_queue,
                    "--provider-file",
                    str(provider_file),
                    "--state-dir",
                    str(self.state_dir),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, "PYTHONPATH": str(REPO_ROOT / "src")},
            )
        deadline = time.monotonic() + timeout_s
        while "serving subprocess" not in self.log.read_text().split(marker)[-1]:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"handler did not start:\n{self.log.read_text()}")
            time.sleep(0.1)

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=30)
        self.process = None


def new_endpoint_name() -> str:
    return f"wp-nexus-{uuid.uuid4().hex[:10]}"
