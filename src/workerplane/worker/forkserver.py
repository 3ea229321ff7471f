"""A fork server: import a worker module once, then start each worker with ``fork()``.

Starting a Python Temporal worker costs about half a second of CPU just to import ``temporalio``
and the user's code; ten workers starting at once on two cores take seconds. The subprocess
provider (``preload: true``) instead runs this server once per scaling group. It imports the module
(without running it), then forks a child per request that runs the module as ``__main__`` with the
worker's own environment. Forking happens before any Temporal client or runtime exists in the
server, so no threads are duplicated.

Protocol (one JSON object per line): the provider writes ``{"env": {...}, "cwd": ..., "log": ...}``
to stdin; the server answers ``{"pid": N}`` on stdout. The server exits when stdin closes; its
children live on in their own sessions and are reaped by the kernel (SIGCHLD ignored).
"""

from __future__ import annotations

import importlib
import json
import os
import runpy
import signal
import sys


def _child(module: str, request: dict[str, object]) -> None:
    os.setsid()
    log = os.open(str(request["log"]), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    os.close(devnull)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    env = request["env"]
    assert isinstance(env, dict)
    os.environ.clear()
    os.environ.update({str(k): str(v) for k, v in env.items()})
    cwd = request.get("cwd")
    if cwd:
        os.chdir(str(cwd))
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 0
        os._exit(code)
    except BaseException:
        import traceback

        traceback.print_exc()
        os._exit(1)
    os._exit(0)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m workerplane.worker.forkserver <worker module>", file=sys.stderr)
        return 2
    module = argv[0]
    # Import the worker module and its dependencies once; the children inherit them.
    importlib.import_module(module)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps exited children
    out = sys.stdout
    print(json.dumps({"ready": True}), file=out, flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(module, request)
        print(json.dumps({"pid": pid}), file=out, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
