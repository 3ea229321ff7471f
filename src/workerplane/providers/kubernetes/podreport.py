"""The in-flight sidecar: publish the worker's in-flight count as an annotation on its own pod.

``python -m workerplane.providers.kubernetes.podreport`` runs next to the worker container and
shares its status directory. Whenever the worker's ``in_flight`` or ``state`` changes it patches
the pod (``$POD_NAMESPACE``/``$POD_NAME``, from the downward API) with::

    workerplane.dev/in-flight: "<tasks executing now>"
    workerplane.dev/running-since: "<when they started, on average: epoch seconds>"
    workerplane.dev/worker-state: "polling" | "draining" | ...

The provider reads these right before a scale-down and turns them into pod-deletion-costs (idle
pods first, then those whose tasks have run the least: :mod:`workerplane.scaling.retire`). Writes
happen only on change and at most every ``--min-interval`` seconds, so a busy worker does not
flood the apiserver. RBAC: ``get`` and ``patch`` on pods in the namespace (the Role the managed
mode renders).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from pathlib import Path

from workerplane.providers.kubernetes.api import KubeApi, KubeApiError, ObjectRef
from workerplane.providers.kubernetes.names import (
    ANN_IN_FLIGHT,
    ANN_RUNNING_SINCE,
    ANN_SLOTS,
    ANN_WORKER_STATE,
)
from workerplane.worker.status import read_status

log = logging.getLogger(__name__)


class PodReporter:
    """Copies a status file into annotations of one pod, on change."""

    def __init__(
        self,
        api: KubeApi,
        namespace: str,
        pod: str,
        status_file: Path,
        *,
        min_interval_s: float = 1.0,
        max_age_s: float = 10.0,
    ) -> None:
        self.api = api
        self.ref = ObjectRef("Pod", namespace, pod)
        self.status_file = status_file
        self.min_interval_s = min_interval_s
        self.max_age_s = max_age_s
        self.published: tuple[str, str, str | None, str | None] | None = None

    def observe(self) -> tuple[str, str, str | None, str | None] | None:
        """What the pod should say now (in flight, state, slots, running since), or ``None``
        while the worker has not reported yet."""
        status = read_status(self.status_file)
        if status is None:
            return None
        state = status.state if status.is_fresh(max_age_s=self.max_age_s) else "unknown"
        slots = str(status.slots) if status.slots is not None else None
        since = None
        if status.in_flight > 0:
            # Whole seconds: the report's rounding would otherwise read as a change.
            since = str(round(status.updated_at - status.running_seconds / status.in_flight))
        return str(max(0, status.in_flight)), state, slots, since

    async def publish_once(self) -> bool:
        """Publish if something changed; returns whether a patch was sent."""
        now = self.observe()
        if now is None or now == self.published:
            return False
        in_flight, state, slots, since = now
        annotations: dict[str, str | None] = {
            ANN_IN_FLIGHT: in_flight,
            ANN_WORKER_STATE: state,
            ANN_RUNNING_SINCE: since,  # None removes it (a merge patch): nothing runs
        }
        if slots is not None:
            annotations[ANN_SLOTS] = slots
        await self.api.patch(self.ref, {"metadata": {"annotations": annotations}})
        self.published = now
        return True

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.publish_once()
            except KubeApiError as exc:
                log.warning("could not publish in-flight count: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.min_interval_s)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workerplane.providers.kubernetes.podreport")
    parser.add_argument("--file", default=os.environ.get("WORKERPLANE_STATUS_FILE"))
    parser.add_argument("--namespace", default=os.environ.get("POD_NAMESPACE"))
    parser.add_argument("--pod", default=os.environ.get("POD_NAME"))
    parser.add_argument("--kubeconfig", default=None, help="default: in-cluster or $KUBECONFIG")
    parser.add_argument("--min-interval", type=float, default=1.0)
    args = parser.parse_args(argv)
    if not (args.file and args.namespace and args.pod):
        print("need --file, --namespace and --pod (or the env variables)", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    async def run() -> None:
        api = KubeApi.connect(args.kubeconfig)
        reporter = PodReporter(
            api, args.namespace, args.pod, Path(args.file), min_interval_s=args.min_interval
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        try:
            await reporter.run(stop)
        finally:
            api.close()

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
