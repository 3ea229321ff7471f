"""The subprocess provider's side of the fork server (``preload``): one process per scaling group
that imported the worker module once (:mod:`workerplane.worker.forkserver`) and forks each new
worker from it, so ten workers starting at once do not each pay the imports.

The protocol is one JSON object per line: a request ``{"env", "cwd", "log"}`` on the server's
stdin, ``{"pid": N}`` on its stdout. Closing stdin stops the server; the workers it forked live on
in their own sessions.
"""

from __future__ import annotations

import contextlib
import json
import logging
import subprocess
from pathlib import Path

from workerplane.providers.base import ProviderError
from workerplane.providers.subprocess.records import FORKSERVER_DIR_ENV

logger = logging.getLogger("workerplane.providers.subprocess")


class ForkServer:
    """A group's fork server for ``module``, its log in ``directory``; started on demand and
    again when it died."""

    def __init__(self, module: str, directory: Path, cwd: str | None) -> None:
        self._module = module
        self._directory = directory
        self._cwd = cwd
        self._launch: tuple[str, dict[str, str]] | None = None
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, command: str, env: dict[str, str]) -> None:
        """Start the server with the interpreter ``command`` and the workers' base ``env``, and
        wait until it has imported the worker module.

        Raises:
            ProviderError: the server did not get ready (its log says why).
        """
        self._launch = (command, env)
        server_env = {**env, FORKSERVER_DIR_ENV: str(self._directory)}
        log = open(self._directory / "forkserver.log", "ab")  # noqa: SIM115 - handed to the child
        try:
            server = subprocess.Popen(
                [command, "-m", "workerplane.worker.forkserver", self._module],
                env=server_env,
                cwd=self._cwd,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                start_new_session=True,
            )
        finally:
            log.close()
        assert server.stdout is not None
        if not json.loads(server.stdout.readline() or b"{}").get("ready"):
            server.kill()
            server.wait()
            raise ProviderError(
                f"fork server for '{self._module}' failed to start; see "
                f"{self._directory / 'forkserver.log'}",
                kind="invalid",
                retryable=False,
            )
        self._process = server
        logger.info("fork server for %s ready (pid %d)", self._module, server.pid)

    def fork(self, env: dict[str, str], log_path: Path) -> int:
        """Fork a worker with ``env``, its output to ``log_path``; its pid. A server that died
        is started again as it was last started."""
        server = self._process
        if server is None or server.poll() is not None:
            assert self._launch is not None, "start() comes first"
            self.start(*self._launch)
            server = self._process
        assert server is not None and server.stdin is not None and server.stdout is not None
        request = {"env": env, "cwd": self._cwd, "log": str(log_path)}
        server.stdin.write(json.dumps(request).encode() + b"\n")
        server.stdin.flush()
        return int(json.loads(server.stdout.readline())["pid"])

    def close(self) -> None:
        """Stop the server (it exits when its stdin closes); the workers it forked live on."""
        server, self._process = self._process, None
        if server is None:
            return
        with contextlib.suppress(OSError):
            assert server.stdin is not None
            server.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.wait(timeout=5)
