"""Leader election on a ``coordination.k8s.io/v1`` Lease, as a wrapper around any command.

``python -m workerplane.providers.kubernetes.leader --lease workerplane -- workerplane run -f ...``

Every replica of the control plane runs this wrapper; only the holder of the Lease runs the
command, so only one controller acts at a time. The holder renews the Lease every
``--renew-every`` seconds; if it cannot renew for ``--lease-seconds`` it stops the command
(SIGTERM) before another replica may take over (it waits out the same duration), and exits
non-zero so that Kubernetes restarts it as a candidate. Writes carry the Lease's
``resourceVersion``, so two candidates racing for an expired Lease cannot both win (the loser
gets 409 Conflict).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import logging
import os
import signal
import socket
import sys
from typing import Any

from workerplane.providers.kubernetes.api import KubeApi, KubeApiError, ObjectRef

log = logging.getLogger(__name__)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _fmt(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        return dt.datetime.strptime(value.replace("+00:00", "Z"), "%Y-%m-%dT%H:%M:%S.%fZ").replace(
            tzinfo=dt.UTC
        )
    except ValueError:
        return None


class LeaseElector:
    """Acquire and renew one Lease for ``identity``."""

    def __init__(
        self, api: KubeApi, namespace: str, name: str, identity: str, lease_seconds: int = 15
    ) -> None:
        self.api = api
        self.ref = ObjectRef("Lease", namespace, name)
        self.identity = identity
        self.lease_seconds = lease_seconds

    def _spec(self, transitions: int, acquired: str | None = None) -> dict[str, Any]:
        now = _fmt(_now())
        return {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": self.lease_seconds,
            "acquireTime": acquired or now,
            "renewTime": now,
            "leaseTransitions": transitions,
        }

    async def try_acquire(self) -> bool:
        """Take or renew the Lease if it is free, expired or ours. Returns whether we hold it."""
        live = await self.api.get(self.ref)
        if live is None:
            body = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": self.ref.name, "namespace": self.ref.namespace},
                "spec": self._spec(0),
            }
            try:
                await self.api.create(self.ref, body)
            except KubeApiError as exc:
                if exc.kind == "exists":
                    return False
                raise
            return True
        spec = live.get("spec") or {}
        holder = spec.get("holderIdentity")
        renewed = _parse(spec.get("renewTime"))
        duration = int(spec.get("leaseDurationSeconds") or self.lease_seconds)
        expired = renewed is None or (_now() - renewed).total_seconds() > duration
        if holder not in (None, "", self.identity) and not expired:
            return False
        ours = holder == self.identity
        transitions = int(spec.get("leaseTransitions") or 0) + (0 if ours else 1)
        patch: dict[str, Any] = {
            "spec": self._spec(transitions, spec.get("acquireTime") if ours else None)
        }
        version = (live.get("metadata") or {}).get("resourceVersion")
        if version:
            patch["metadata"] = {"resourceVersion": version}
        try:
            await self.api.patch(self.ref, patch)
        except KubeApiError as exc:
            if exc.status == 409:
                return False
            raise
        return True

    async def release(self) -> None:
        """Hand the Lease back at a clean exit so a standby takes over at once."""
        live = await self.api.get(self.ref)
        if live and (live.get("spec") or {}).get("holderIdentity") == self.identity:
            await self.api.patch(self.ref, {"spec": {"holderIdentity": None, "renewTime": None}})


async def run_as_leader(
    elector: LeaseElector,
    command: list[str],
    *,
    renew_every_s: float = 5.0,
    stop: asyncio.Event | None = None,
) -> int:
    """Wait for the Lease, run ``command`` while holding it. Returns the exit status."""
    stop = stop or asyncio.Event()
    while not stop.is_set():
        try:
            if await elector.try_acquire():
                break
        except KubeApiError as exc:
            log.warning("lease: %s", exc)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=renew_every_s)
    if stop.is_set():
        return 0
    log.info("lease %s: acquired by %s, starting %s", elector.ref, elector.identity, command[0])
    proc = await asyncio.create_subprocess_exec(*command)
    last_renew = asyncio.get_running_loop().time()
    status = 0
    try:
        while proc.returncode is None:
            waiter = asyncio.ensure_future(proc.wait())
            stopper = asyncio.ensure_future(stop.wait())
            await asyncio.wait(
                {waiter, stopper}, timeout=renew_every_s, return_when="FIRST_COMPLETED"
            )
            stopper.cancel()
            if proc.returncode is not None:
                break
            if stop.is_set():
                proc.terminate()
                status = await proc.wait()
                break
            try:
                held = await elector.try_acquire()
            except KubeApiError as exc:
                log.warning("lease renewal failed: %s", exc)
                held = (asyncio.get_running_loop().time() - last_renew) < elector.lease_seconds
            else:
                if held:
                    last_renew = asyncio.get_running_loop().time()
            if not held:
                log.error("lease %s lost: stopping the command", elector.ref)
                proc.terminate()
                await proc.wait()
                return 1
        status = proc.returncode if proc.returncode is not None else status
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    try:
        await elector.release()
    except KubeApiError as exc:
        log.warning("lease release failed: %s", exc)
    return int(status or 0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workerplane.providers.kubernetes.leader")
    parser.add_argument("--lease", default="workerplane-controller")
    parser.add_argument("--namespace", default=os.environ.get("POD_NAMESPACE", "default"))
    parser.add_argument("--identity", default=os.environ.get("POD_NAME", socket.gethostname()))
    parser.add_argument("--lease-seconds", type=int, default=15)
    parser.add_argument("--renew-every", type=float, default=5.0)
    parser.add_argument("--kubeconfig", default=None)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to run after --")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    async def run() -> int:
        api = KubeApi.connect(args.kubeconfig)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        elector = LeaseElector(api, args.namespace, args.lease, args.identity, args.lease_seconds)
        try:
            return await run_as_leader(elector, command, renew_every_s=args.renew_every, stop=stop)
        finally:
            api.close()

    return asyncio.run(run())


if __name__ == "__main__":
    sys.exit(main())
