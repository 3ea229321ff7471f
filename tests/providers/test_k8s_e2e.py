"""End to end: the REAL controller scales a managed ``k8s`` Deployment whose pods are real workers.

What is real and what is emulated:

* **Real:** the Temporal dev server; the controller (:class:`Controller`, spec file in, status out)
  with the ``backlog`` scaler; the ``k8s`` provider in managed mode (render, apply, scale
  subresource, census, pod-deletion-cost); the official ``kubernetes`` client; and every process a
  pod runs, started from the rendered pod template: the worker container (``examples.worker``
  on the ``workerplane.worker`` runtime), the ``in-flight`` sidecar
  (``workerplane.providers.kubernetes.podreport``, which patches its pod's annotations), the
  readiness exec probe and the preStop hook (``workerplane.providers.kubernetes.probe``).
* **Emulated:** ``kmock`` emulates the apiserver (in memory, on loopback; no controllers), and
  this test plays the ReplicaSet controller and the kubelet (:class:`ProcessKubelet`):

  - it creates pods to match the Deployment's ``spec.replicas`` and, on scale-down, deletes the
    pods the ReplicaSet controller would pick: not-ready first, then the lowest
    ``controller.kubernetes.io/pod-deletion-cost``, then the newest;
  - for each pod it starts one local process per container with the container's ``command`` +
    ``args`` and resolved ``env``, under a shim that records its exit code as a container
    runtime does (``container_shim.py``); an ``emptyDir`` mount is a per-pod directory (paths
    under the mount are rewritten), the "image" is this repository with the venv's ``python``
    first on ``PATH``, and the service-account token is stood in for by a ``KUBECONFIG`` for
    kmock;
  - it runs the readiness probe every ``periodSeconds`` and writes the pod's Ready condition and
    the Deployment's ``status`` through the API;
  - graceful deletion: kmock deletes at once unless an object has finalizers, so pods are
    created with a finalizer; a DELETE then only sets ``deletionTimestamp`` (as the real
    apiserver does for pods) and the kubelet runs the preStop hook, sends SIGTERM, waits up to
    ``terminationGracePeriodSeconds`` (SIGKILL after that, recorded as a failure) and finally
    removes the finalizer.

The tests:

1. One pod at ``min_count``; a burst of workflows with activities of a few seconds builds a
   backlog; the controller grows the Deployment; all work completes; the Deployment returns to
   ``min_count``.
2. Every pod busy (all slots full), then ``max_count`` lowered in the spec file while the
   controller runs: the pod scaled away was priced at its in-flight work, keeps running through
   the preStop drain and finishes its activities; the change rescales and never rolls the pods.

In both, not a single activity was cancelled, timed out or retried (every result says
"attempt 1" and the workflow histories hold no cancel/timeout/failure event), and every pod that
went away (scale-down or the final drain) exited by itself: none was SIGKILLed, none crashed.

Behaviour is asserted, never timing: every wait polls for an effect with a generous deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import yaml
from k8s_support import kubeconfig_for, start_emulator, stop_emulator
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle

from examples.app import ProcessItem
from workerplane.controller.controller import Controller
from workerplane.controller.local import FileSpecSource, JsonStatusSink
from workerplane.controller.settings import ControllerSettings
from workerplane.planning.status import GroupStatus
from workerplane.providers.kubernetes.api import KubeApi, ObjectRef, load_api_client
from workerplane.providers.kubernetes.names import (
    ANN_DELETION_COST,
    ANN_IN_FLIGHT,
    STATUS_FILE,
    WORKER_CONTAINER,
)
from workerplane.worker.status import WorkerStatus, read_status

pytestmark = pytest.mark.integration

NS = "workers"
DEPLOYMENT = "orders-worker"
GROUP = "workers"
REPO_ROOT = Path(__file__).resolve().parents[2]
#: Runs each container's command and records its exit code, as containerd's shim does.
SHIM = Path(__file__).with_name("container_shim.py")
#: Stands in for the apiserver's graceful pod deletion, which kmock does not implement.
FINALIZER = "e2e.workerplane.dev/kubelet"

MIN_COUNT = 1
MAX_COUNT = 3
SLOTS = 2
BURST = 16
ACTIVITY_S = 4.0
#: Activities still running on a pod when it is scaled away (well inside the grace period).
LONG_S = 15.0


# -- the kubelet (and ReplicaSet controller) -----------------------------------------------------


@dataclass
class Container:
    """One container of a pod: a local process started from the pod template."""

    name: str
    spec: dict[str, Any]
    argv: list[str]
    env: dict[str, str]
    mounts: list[tuple[str, Path]]
    log: Path
    proc: asyncio.subprocess.Process | None = None
    restarts: int = 0
    exit_codes: list[int] = field(default_factory=list)
    sigkilled: bool = False

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    @property
    def exit_file(self) -> Path:
        """Where the shim records how the command exited (see ``container_shim.py``)."""
        return self.log.with_suffix(".exit")

    def exit_code(self) -> int:
        """The command's exit code, as the runtime recorded it (negative for a signal).

        Only a shim killed outright (SIGKILL of the group) leaves no record; its own code is then
        the container's, as when a real runtime's process dies with its shim.
        """
        assert self.proc is not None and self.proc.returncode is not None
        with contextlib.suppress(FileNotFoundError, ValueError):
            return int(self.exit_file.read_text())
        return self.proc.returncode

    def host_path(self, value: str) -> str:
        """``value`` as seen from outside the container (mount paths -> per-pod directories)."""
        for mount, host in self.mounts:
            if value == mount or value.startswith(mount + "/"):
                return str(host) + value[len(mount) :]
        return value


@dataclass
class Pod:
    """What the kubelet knows about one pod it runs."""

    name: str
    spec: dict[str, Any]
    dir: Path
    containers: dict[str, Container]
    ready: bool = False
    probe_failures: int = 0
    prober: asyncio.Task[None] | None = None
    terminating: asyncio.Task[None] | None = None
    #: The worker's own report when termination began (how much work the drain had to finish).
    status_at_termination: WorkerStatus | None = None
    terminated: bool = False
    published: tuple[str, bool] | None = None

    @property
    def worker_status_file(self) -> Path:
        return Path(self.containers[WORKER_CONTAINER].host_path(STATUS_FILE))


@dataclass(frozen=True)
class Victim:
    """A pod the emulated ReplicaSet controller chose to delete, and what it saw at that time."""

    pod: str
    ready: bool
    deletion_cost: str | None
    in_flight: str | None


class ProcessKubelet:
    """Plays the ReplicaSet controller and the kubelet for every Deployment in one namespace."""

    def __init__(self, api: KubeApi, namespace: str, root: Path, kubeconfig: Path) -> None:
        self.api = api
        self.namespace = namespace
        self.root = root
        self.kubeconfig = kubeconfig
        self.pods: dict[str, Pod] = {}
        self.victims: list[Victim] = []
        self.created = 0
        self.max_spec_replicas = 0
        #: Failures of the emulation itself (a crashed termination or probe task).
        self.errors: list[str] = []
        #: Probes or hooks that could not run or overran their timeout (a loaded machine).
        self.exec_failures: list[str] = []
        self._dep_status: dict[str, dict[str, int]] = {}
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def close(self) -> None:
        """Stop reconciling and kill whatever still runs (teardown only; never part of a check)."""
        self._stop.set()
        if self._task is not None:
            with contextlib.suppress(Exception):
                await self._task
        for pod in self.pods.values():
            for task in (pod.prober, pod.terminating):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(BaseException):
                        await task
            for container in pod.containers.values():
                if container.running:
                    assert container.proc is not None
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(container.proc.pid, signal.SIGKILL)
                    await container.proc.wait()

    async def _run(self) -> None:
        while not self._stop.is_set():
            try:
                await self.reconcile()
            except Exception as exc:  # keep playing the cluster; the test's checks will tell
                print(f"kubelet: reconcile failed: {type(exc).__name__}: {exc}", file=sys.stderr)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=0.3)

    # -- one pass -----------------------------------------------------------------------------

    async def reconcile(self) -> None:
        deployments = await self.api.list("Deployment", self.namespace)
        for dep in deployments:
            await self._replicaset(dep)
        objects = {p["metadata"]["name"]: p for p in await self.api.list("Pod", self.namespace)}
        for name, obj in objects.items():
            meta = obj["metadata"]
            pod = self.pods.get(name)
            if meta.get("deletionTimestamp"):
                if pod is None:
                    await self._release(name)
                elif pod.terminating is None:
                    pod.terminating = asyncio.create_task(self._terminate(pod, obj))
                    pod.terminating.add_done_callback(self._report_crash)
                continue
            if pod is None:
                self.pods[name] = await self._admit(obj)
                continue
            await self._restart_exited(pod)
        for pod in self.pods.values():
            if pod.name in objects and not pod.terminated:
                await self._publish_pod(pod)
        for dep in deployments:
            await self._publish_deployment(dep, objects)

    async def _replicaset(self, dep: dict[str, Any]) -> None:
        """Create or delete pods so that the Deployment has ``spec.replicas`` active ones."""
        name = dep["metadata"]["name"]
        want = int(dep["spec"].get("replicas") or 0)
        self.max_spec_replicas = max(self.max_spec_replicas, want)
        selector = dep["spec"]["selector"]["matchLabels"]
        template = dep["spec"]["template"]
        active = [
            p
            for p in await self.api.list("Pod", self.namespace, selector)
            if not p["metadata"].get("deletionTimestamp")
        ]
        for _ in range(want - len(active)):
            self.created += 1
            pod_name = f"{name}-{self.created:05d}"
            meta = template.get("metadata") or {}
            body = {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": pod_name,
                    "namespace": self.namespace,
                    "labels": dict(meta.get("labels") or {}),
                    "annotations": dict(meta.get("annotations") or {}),
                    "finalizers": [FINALIZER],
                },
                "spec": template["spec"],
                "status": {"phase": "Pending"},
            }
            await self.api.create(ObjectRef("Pod", self.namespace, pod_name), body)
        if len(active) > want:

            def rank(obj: dict[str, Any]) -> tuple[int, int, int]:
                # The ReplicaSet controller's order, reduced to what differs here: not-ready
                # before ready, then the lowest pod-deletion-cost, then the newest.
                pod = self.pods.get(obj["metadata"]["name"])
                annotations = obj["metadata"].get("annotations") or {}
                cost = int(annotations.get(ANN_DELETION_COST, "0"))
                seq = int(obj["metadata"]["name"].rsplit("-", 1)[1])
                return (1 if pod is not None and pod.ready else 0, cost, -seq)

            for obj in sorted(active, key=rank)[: len(active) - want]:
                annotations = obj["metadata"].get("annotations") or {}
                pod = self.pods.get(obj["metadata"]["name"])
                self.victims.append(
                    Victim(
                        pod=obj["metadata"]["name"],
                        ready=pod is not None and pod.ready,
                        deletion_cost=annotations.get(ANN_DELETION_COST),
                        in_flight=annotations.get(ANN_IN_FLIGHT),
                    )
                )
                # A real DELETE: kmock only marks it (deletionTimestamp) because of the finalizer.
                await self.api.delete(ObjectRef("Pod", self.namespace, obj["metadata"]["name"]))

    async def _admit(self, obj: dict[str, Any]) -> Pod:
        """Start every container of a new pod and its readiness prober."""
        name = obj["metadata"]["name"]
        spec = obj["spec"]
        pod_dir = self.root / name
        pod_dir.mkdir(parents=True, exist_ok=True)
        volumes = {v["name"]: v for v in spec.get("volumes") or []}
        containers: dict[str, Container] = {}
        for c in spec["containers"]:
            mounts: list[tuple[str, Path]] = []
            for mount in c.get("volumeMounts") or []:
                volume = volumes[mount["name"]]
                if "emptyDir" not in volume:
                    raise NotImplementedError(f"volume {mount['name']}: only emptyDir is emulated")
                host = pod_dir / "volumes" / mount["name"]
                host.mkdir(parents=True, exist_ok=True)
                mounts.append((mount["mountPath"], host))
            mounts.sort(key=lambda m: -len(m[0]))
            container = Container(
                name=c["name"],
                spec=c,
                argv=[],
                env={},
                mounts=mounts,
                log=pod_dir / f"{c['name']}.log",
            )
            container.env = self._container_env(name, c, container)
            container.argv = [container.host_path(a) for a in [*c["command"], *c.get("args", [])]]
            containers[c["name"]] = container
        pod = Pod(
            name=name,
            spec=spec,
            dir=pod_dir,
            containers=containers,
        )
        for container in containers.values():
            await self._start(container)
        pod.prober = asyncio.create_task(self._probe_loop(pod))
        pod.prober.add_done_callback(self._report_crash)
        return pod

    def _container_env(
        self, pod: str, spec: dict[str, Any], container: Container
    ) -> dict[str, str]:
        env = {
            # The "image": this repository and its venv.
            "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "HOME": str(self.root),
            "PYTHONUNBUFFERED": "1",
            # Stands in for the mounted service-account token (the sidecar patches its own pod).
            "KUBECONFIG": str(self.kubeconfig),
        }
        fields = {"metadata.name": pod, "metadata.namespace": self.namespace}
        for entry in spec.get("env") or []:
            if "value" in entry:
                env[entry["name"]] = container.host_path(str(entry["value"]))
            elif "fieldRef" in (entry.get("valueFrom") or {}):
                env[entry["name"]] = fields[entry["valueFrom"]["fieldRef"]["fieldPath"]]
            else:
                raise NotImplementedError(f"env {entry['name']}: only value and fieldRef")
        return env

    async def _start(self, container: Container) -> None:
        container.exit_file.unlink(missing_ok=True)
        with container.log.open("ab") as log:
            container.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                str(SHIM),
                str(container.exit_file),
                "--",
                *container.argv,
                env=container.env,
                cwd=REPO_ROOT,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
            )

    async def _exec(self, container: Container, command: list[str], timeout_s: float) -> bool:
        """Run an exec probe or hook in ``container``'s environment; True when it exits 0.

        As for the kubelet, a probe that cannot start or overruns its timeout counts as failed.
        """
        try:
            proc = await asyncio.create_subprocess_exec(
                *[container.host_path(a) for a in command],
                env=container.env,
                cwd=REPO_ROOT,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
        except OSError as exc:
            self.exec_failures.append(f"{command[-1]}: {exc!r}")
            return False
        try:
            return await asyncio.wait_for(proc.wait(), timeout=max(0.1, timeout_s)) == 0
        except TimeoutError:
            self.exec_failures.append(f"{command[-1]}: timed out after {timeout_s:.0f}s")
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            return False

    def _report_crash(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            self.errors.append(f"{task.get_name()}: {task.exception()!r}")

    async def _restart_exited(self, pod: Pod) -> None:
        """restartPolicy Always: a container that exits in a live pod is restarted (and counted)."""
        for container in pod.containers.values():
            if container.proc is not None and container.proc.returncode is not None:
                container.exit_codes.append(container.exit_code())
                container.restarts += 1
                print(
                    f"kubelet: {pod.name}/{container.name} exited "
                    f"{container.exit_codes[-1]}; restarting",
                    file=sys.stderr,
                )
                await self._start(container)

    async def _probe_loop(self, pod: Pod) -> None:
        probes = [
            (c, c.spec["readinessProbe"])
            for c in pod.containers.values()
            if "readinessProbe" in c.spec
        ]
        while pod.terminating is None:
            results = [
                await self._exec(c, probe["exec"]["command"], float(probe.get("timeoutSeconds", 1)))
                for c, probe in probes
            ]
            if all(results):
                pod.probe_failures = 0
                pod.ready = True
            else:
                pod.probe_failures += 1
                threshold = min(int(p.get("failureThreshold", 3)) for _, p in probes)
                if not pod.ready or pod.probe_failures >= threshold:
                    pod.ready = False
            period = min(int(p.get("periodSeconds", 10)) for _, p in probes) if probes else 1
            await asyncio.sleep(period)

    async def _terminate(self, pod: Pod, obj: dict[str, Any]) -> None:
        """Graceful termination: preStop, SIGTERM, wait the grace period, SIGKILL if needed."""
        grace = float(
            obj["metadata"].get("deletionGracePeriodSeconds")
            or pod.spec.get("terminationGracePeriodSeconds", 30)
        )
        deadline = time.monotonic() + grace
        pod.ready = False
        pod.status_at_termination = read_status(pod.worker_status_file)
        if pod.prober is not None:
            pod.prober.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pod.prober

        async def stop(container: Container) -> None:
            hook = ((container.spec.get("lifecycle") or {}).get("preStop") or {}).get("exec")
            if hook and container.running:
                await self._exec(container, hook["command"], deadline - time.monotonic())
            if container.running:
                assert container.proc is not None
                with contextlib.suppress(ProcessLookupError):
                    container.proc.send_signal(signal.SIGTERM)
            if container.proc is None:
                return
            try:
                await asyncio.wait_for(
                    container.proc.wait(), timeout=max(0.1, deadline - time.monotonic())
                )
            except TimeoutError:
                container.sigkilled = True
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(container.proc.pid, signal.SIGKILL)
                await container.proc.wait()
            container.exit_codes.append(container.exit_code())

        await asyncio.gather(*(stop(c) for c in pod.containers.values()))
        pod.terminated = True
        await self._release(pod.name)

    async def _release(self, name: str) -> None:
        """Drop the finalizer: kmock then removes the pod (the apiserver does after the kubelet)."""
        await self.api.patch(
            ObjectRef("Pod", self.namespace, name), {"metadata": {"finalizers": None}}
        )

    async def _publish_pod(self, pod: Pod) -> None:
        phase = "Running" if all(c.running for c in pod.containers.values()) else "Pending"
        now = (phase, pod.ready)
        if now == pod.published:
            return
        await self.api.patch(
            ObjectRef("Pod", self.namespace, pod.name),
            {
                "status": {
                    "phase": phase,
                    "conditions": [{"type": "Ready", "status": str(pod.ready)}],
                }
            },
            sub="status",
        )
        pod.published = now

    async def _publish_deployment(self, dep: dict[str, Any], objects: dict[str, Any]) -> None:
        """``status.replicas`` counts non-terminating pods, as the ReplicaSet controller does."""
        name = dep["metadata"]["name"]
        selector = dep["spec"]["selector"]["matchLabels"]
        active = [
            self.pods[n]
            for n, obj in objects.items()
            if n in self.pods
            and not obj["metadata"].get("deletionTimestamp")
            and all((obj["metadata"].get("labels") or {}).get(k) == v for k, v in selector.items())
        ]
        ready = sum(p.ready for p in active)
        status = {
            "replicas": len(active),
            "updatedReplicas": len(active),
            "readyReplicas": ready,
            "availableReplicas": ready,
        }
        if self._dep_status.get(name) == status:
            return
        await self.api.patch(
            ObjectRef("Deployment", self.namespace, name), {"status": status}, sub="status"
        )
        self._dep_status[name] = status

    # -- views for the test -------------------------------------------------------------------

    def live(self) -> list[Pod]:
        return [p for p in self.pods.values() if not p.terminated and p.terminating is None]

    def describe(self) -> str:
        lines = [
            f"pods created={self.created} victims={self.victims} errors={self.errors} "
            f"exec failures={self.exec_failures}"
        ]
        for pod in self.pods.values():
            status = read_status(pod.worker_status_file)
            state = f"{status.state} in_flight={status.in_flight}" if status else "no status"
            lines.append(
                f"  {pod.name}: ready={pod.ready} terminating={pod.terminating is not None} "
                f"terminated={pod.terminated} worker={state} "
                + " ".join(
                    f"{c.name}(restarts={c.restarts} exits={c.exit_codes} killed={c.sigkilled})"
                    for c in pod.containers.values()
                )
            )
            for c in pod.containers.values():
                tail = c.log.read_text(errors="replace").splitlines()[-8:] if c.log.exists() else []
                lines += [f"    {c.name}| {line}" for line in tail]
        return "\n".join(lines)


@dataclass
class Cluster:
    url: str
    kubeconfig: str
    api: KubeApi
    kubelet: ProcessKubelet

    async def deployment(self) -> dict[str, Any]:
        dep = await self.api.get(ObjectRef("Deployment", NS, DEPLOYMENT))
        assert dep is not None, f"Deployment {NS}/{DEPLOYMENT} was not created"
        return dep

    async def pod_objects(self) -> list[dict[str, Any]]:
        return await self.api.list("Pod", NS)


@pytest_asyncio.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    """kmock (the apiserver) plus the process kubelet; every pod process is killed at teardown."""
    emulator, server, url = await start_emulator()
    kubeconfig = kubeconfig_for(url)
    kubeconfig_file = tmp_path / "kubeconfig.yaml"
    kubeconfig_file.write_text(kubeconfig)
    api = KubeApi(load_api_client(kubeconfig))
    kubelet = ProcessKubelet(
        KubeApi(load_api_client(kubeconfig)), NS, tmp_path / "node", kubeconfig_file
    )
    kubelet.start()
    try:
        yield Cluster(url, kubeconfig, api, kubelet)
    finally:
        await kubelet.close()
        kubelet.api.close()
        api.close()
        await stop_emulator(emulator, server)


# -- the test -------------------------------------------------------------------------------------


def write_k8s_spec(
    path: Path,
    *,
    name: str,
    queue: str,
    kubeconfig: str,
    min_count: int = MIN_COUNT,
    max_count: int = MAX_COUNT,
) -> Path:
    """A deployment whose one scaling group is a managed ``k8s`` Deployment of example workers.

    Rewriting it while the controller runs applies the change live (only the scaler's bounds
    differ between calls, so the Deployment is rescaled, never rolled).
    """
    group = {
        "provider": {
            "type": "k8s",
            "details": {
                "namespace": NS,
                "deployment": DEPLOYMENT,
                "kubeconfig": kubeconfig,
                "managed": {
                    "image": "workerplane-examples:dev",
                    # The managed block reserves WORKERPLANE_* in `env` and has no slots key, so
                    # the per-worker activity slots go through the container command.
                    "command": [
                        "env",
                        f"WORKERPLANE_SLOTS={SLOTS}",
                        "python",
                        "-m",
                        "examples.worker",
                    ],
                    "cpus": "500m",
                    "memory": "512Mi",
                    "longest_activity_s": 30,
                    "drain_margin_s": 10,
                    # Each probe is a Python process; a slower period keeps the shared CPU free.
                    "readiness_period_s": 2,
                },
            },
        },
        "scaler": {
            "type": "backlog",
            "details": {
                "min_count": min_count,
                "max_count": max_count,
                "target_per_worker": SLOTS,
                "scale_down_cooldown_ms": 3000,
                "metrics_poll_interval_ms": 500,
            },
        },
    }
    spec = {"name": name, "task_queue": queue, "compute": {"scaling_groups": {GROUP: group}}}
    path.write_text(yaml.safe_dump(spec))
    return path


async def eventually(
    check: Callable[[], Awaitable[bool]], what: str, describe: Callable[[], str], timeout_s: float
) -> None:
    """Poll ``check`` until it holds; fail with the cluster's state after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s:.0f}s: {what}\n{describe()}")
        await asyncio.sleep(0.25)


ACTIVITY_TROUBLE = {
    EventType.EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED,
    EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED,
    EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT,
    EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED,
}


@dataclass
class Run:
    """The real controller on a spec file, with every status it published."""

    cluster: Cluster
    history: list[list[GroupStatus]] = field(default_factory=list)

    def statuses(self) -> list[GroupStatus]:
        return [s for snap in self.history for s in snap if s.group_id == GROUP]

    def describe(self) -> str:
        last = self.statuses()[-1:]
        return (
            f"controller: {last[0] if last else 'no status yet'}\n{self.cluster.kubelet.describe()}"
        )

    async def at_size(self, size: int) -> bool:
        """The Deployment asks for ``size``, and exactly ``size`` Ready pods exist (no others)."""
        if not self.statuses():
            return False
        dep = await self.cluster.deployment()
        return (
            dep["spec"]["replicas"] == size
            and (dep.get("status") or {}).get("readyReplicas") == size
            and len(await self.cluster.pod_objects()) == size
        )

    async def wait_size(self, size: int, what: str, timeout_s: float = 180) -> None:
        await eventually(lambda: self.at_size(size), what, self.describe, timeout_s)

    async def in_flight(self, pod: str) -> str | None:
        """What the pod's in-flight sidecar last published on it."""
        obj = await self.cluster.api.get(ObjectRef("Pod", NS, pod))
        return (((obj or {}).get("metadata") or {}).get("annotations") or {}).get(ANN_IN_FLIGHT)


@contextlib.asynccontextmanager
async def controller_on(
    spec_path: Path, cluster: Cluster, temporal_address: str, state_dir: Path
) -> AsyncIterator[Run]:
    """Run the controller; on exit stop it and drain the group, then wait until no pod is left.

    The drain (size 0) happens while the kubelet still runs, so the last workers retire
    gracefully too. ``Controller.shutdown`` returns once ``status.replicas`` is 0, which excludes
    terminating pods, so the wait for the pods themselves is ours.
    """
    run = Run(cluster)
    controller = Controller(
        FileSpecSource(spec_path),
        JsonStatusSink(state_dir / "status.json"),
        ControllerSettings(
            state_dir=state_dir, address=temporal_address, refresh_s=0.5, drain_timeout_s=60
        ),
        on_cycle=run.history.append,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(controller.run(stop))
    try:
        yield run
    finally:
        stop.set()
        await task
        await controller.shutdown(drain=True)

    async def all_gone() -> bool:
        return not await cluster.pod_objects() and all(
            p.terminated for p in cluster.kubelet.pods.values()
        )

    await eventually(all_gone, "every pod terminated after the drain", run.describe, 120)


async def start_burst(
    client: Client, queue: str, count: int, seconds: float
) -> list[WorkflowHandle[Any, str]]:
    return [
        await client.start_workflow(
            ProcessItem.run, seconds, id=f"{queue}-{uuid.uuid4().hex[:8]}", task_queue=queue
        )
        for _ in range(count)
    ]


async def assert_first_attempts(handles: list[WorkflowHandle[Any, str]], seconds: float) -> None:
    """Every workflow ran its one activity exactly once, on attempt 1, never cancelled."""
    results = await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), 300)
    assert results == [f"done after {seconds}s (attempt 1)"] * len(handles)
    for handle in handles:
        events = [e.event_type async for e in handle.fetch_history_events()]
        assert not ACTIVITY_TROUBLE & set(events), (handle.id, events)
        assert events.count(EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED) == 1, handle.id
        assert events.count(EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED) == 1, handle.id


def assert_every_pod_drained(kubelet: ProcessKubelet) -> None:
    """Each pod went away through preStop + SIGTERM: no SIGKILL, crash, restart or lost work.

    A SIGTERM exit (-15) is accepted: the kubelet's own SIGTERM follows the preStop hook and may
    land after the runtime has drained and released its signal handlers (Kubernetes' "143").
    """
    assert kubelet.errors == []
    for pod in kubelet.pods.values():
        assert pod.terminated, pod.name
        for container in pod.containers.values():
            assert not container.sigkilled, f"{pod.name}/{container.name} was SIGKILLed"
            assert container.restarts == 0, f"{pod.name}/{container.name} exited early"
            assert container.exit_codes in ([0], [-signal.SIGTERM]), (
                pod.name,
                container.name,
                container.exit_codes,
            )
        final = read_status(pod.worker_status_file)
        if final is None or final.state == "starting":
            # Scaled away before its worker ever polled (not-ready pods go first): no work held.
            continue
        assert final.state == "stopped" and final.exit_reason == "signal", (pod.name, final)
        assert final.in_flight == 0, (pod.name, final)


async def test_backlog_scales_pods_and_back_to_min_without_cancelling(
    cluster: Cluster, temporal_address: str, tmp_path: Path, unique_name: str
) -> None:
    """Idle at min_count -> a burst's backlog grows the Deployment -> all done -> back to min."""
    kubelet = cluster.kubelet
    spec = write_k8s_spec(
        tmp_path / "deploy.yaml", name=unique_name, queue=unique_name, kubeconfig=cluster.kubeconfig
    )
    async with controller_on(spec, cluster, temporal_address, tmp_path / "state") as run:
        # An idle queue: the managed Deployment is created and held at min_count; its pod turns
        # Ready once the worker in it polls.
        await run.wait_size(MIN_COUNT, "one Ready pod at min_count")
        cycles = len(run.history)
        await eventually(
            lambda: _true(len(run.history) >= cycles + 4), "four more cycles", run.describe, 60
        )
        assert all(s.desired == MIN_COUNT for s in run.statuses()), "an idle queue stays at min"

        client = await Client.connect(temporal_address)
        handles = await start_burst(client, unique_name, BURST, ACTIVITY_S)
        await assert_first_attempts(handles, ACTIVITY_S)

        # Back to min_count: the extra pods were deleted and have finished terminating.
        await run.wait_size(MIN_COUNT, "back to one Ready pod at min_count")
        # The controller's own census catches up on its next cycle.
        await eventually(
            lambda: _true(run.statuses()[-1].workers_running == MIN_COUNT),
            "the controller's census back at min_count", run.describe, 60,
        )  # fmt: skip
        statuses = run.statuses()
        victims = list(kubelet.victims)
    assert_every_pod_drained(kubelet)

    # The backlog grew the Deployment (the first step up had tasks waiting), within max_count.
    grown = [s for s in statuses if (s.desired or 0) > MIN_COUNT]
    assert grown, f"the burst never grew the Deployment beyond {MIN_COUNT}"
    assert grown[0].backlog > 0, f"the first scale-up was not driven by the backlog: {grown[0]}"
    peak = max(s.desired or 0 for s in statuses)
    assert peak <= MAX_COUNT and kubelet.max_spec_replicas == peak
    assert max(s.workers_running for s in statuses) > MIN_COUNT
    assert statuses[-1].desired == MIN_COUNT and statuses[-1].workers_running == MIN_COUNT
    assert all(s.provider_validation_error is None for s in statuses)
    # Every scale-down step went through the scale subresource and the deletion-cost marking.
    assert len(victims) >= peak - MIN_COUNT
    assert any(v.deletion_cost is not None for v in victims), victims

    changes = [
        (round(s.updated_at - statuses[0].updated_at, 1), s.desired, s.backlog, s.in_flight)
        for prev, s in zip([None, *statuses], statuses, strict=False)
        if prev is None or prev.desired != s.desired
    ]
    print(
        f"\nsize changes (t_s, size, backlog, in_flight): {changes}; pods created "
        f"{kubelet.created}; scaled away {[(v.pod, v.deletion_cost) for v in victims]}; "
        f"probe/hook overruns {len(kubelet.exec_failures)}"
    )


async def test_busy_pod_scaled_away_finishes_its_activities(
    cluster: Cluster, temporal_address: str, tmp_path: Path, unique_name: str
) -> None:
    """Every pod busy, max_count lowered live: the pod scaled away drains its activities."""
    kubelet = cluster.kubelet
    spec_path = tmp_path / "deploy.yaml"

    def spec(min_count: int, max_count: int) -> Path:
        return write_k8s_spec(
            spec_path,
            name=unique_name,
            queue=unique_name,
            kubeconfig=cluster.kubeconfig,
            min_count=min_count,
            max_count=max_count,
        )

    async with controller_on(spec(2, MAX_COUNT), cluster, temporal_address, tmp_path / "s") as run:
        await run.wait_size(2, "two Ready pods at min_count 2")
        pods = [p.name for p in kubelet.live()]
        template_hash = (await cluster.deployment())["spec"]["template"]["metadata"]["annotations"]

        # Fill every slot: each pod runs SLOTS activities (and says so on its annotation).
        client = await Client.connect(temporal_address)
        handles = await start_burst(client, unique_name, 2 * SLOTS, LONG_S)

        async def all_busy() -> bool:
            return all([await run.in_flight(p) == str(SLOTS) for p in pods])

        await eventually(all_busy, f"both pods report {SLOTS} in flight", run.describe, 90)

        # Lower the bounds live: the controller cuts to max_count at once, so a busy pod goes.
        spec(1, 1)
        await eventually(
            lambda: _true(len(kubelet.victims) == 1), "one pod scaled away", run.describe, 60
        )
        await assert_first_attempts(handles, LONG_S)
        await run.wait_size(1, "one Ready pod at max_count 1")
        dep = await cluster.deployment()
        # Changing min/max rescaled the Deployment; it did not roll the pods.
        assert dep["spec"]["template"]["metadata"]["annotations"] == template_hash
        assert kubelet.created == 2
    assert_every_pod_drained(kubelet)

    victim = kubelet.victims[0]
    drained = kubelet.pods[victim.pod]
    # The provider had ranked the pod first of the two busy ones (the cost of a busy pod is its
    # rank by how long its tasks have run, from 1), and the pod drained its work.
    assert victim.deletion_cost == "1" and victim.ready
    assert drained.status_at_termination is not None
    assert drained.status_at_termination.in_flight == SLOTS, drained.status_at_termination


async def _true(value: bool) -> bool:
    return value
