"""The emulated container runtime's shim: run one container's command and record how it exited.

``python container_shim.py EXIT_FILE -- COMMAND [ARG ...]``

A real kubelet does not learn a container's exit code by being its parent: containerd's shim
reaps the process and records the status, and the kubelet reads it. The e2e kubelet does the same
with this shim, because a test process that has run thousands of subprocesses cannot trust
``waitpid`` for its own children. Once the kernel's pid counter wraps (``pid_max`` is 32768 on
many machines), a stale ``subprocess.Popen`` left behind by an earlier test can reap a new child
that reused its pid, and asyncio then reports that child's exit as 255.

The shim passes SIGTERM and SIGINT on to the command (the kubelet's own SIGTERM after preStop),
and shares its session, so the kubelet's SIGKILL of the process group reaches both. It writes the
command's exit code as ``Popen.returncode`` gives it (negative for a signal), then exits with the
same status a shell would.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path
from types import FrameType


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        print("usage: container_shim.py EXIT_FILE -- COMMAND [ARG ...]", file=sys.stderr)
        return 2
    exit_file, command = Path(argv[0]), argv[2:]
    children: list[subprocess.Popen[bytes]] = []
    early: list[int] = []

    def forward(signum: int, _frame: FrameType | None) -> None:
        if children:
            children[0].send_signal(signum)
        else:
            early.append(signum)

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, forward)
    children.append(subprocess.Popen(command))
    for signum in early:  # a signal that came before the command started
        children[0].send_signal(signum)
    code = children[0].wait()
    exit_file.write_text(str(code))
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
