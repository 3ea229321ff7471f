"""The ``k8s`` provider: hold a Deployment at the size the scaler asks for.

* **User-owned** Deployment (Temporal's keys): read and patch its ``scale`` subresource; census from
  the Deployment's status (``replicas``, ``readyReplicas``) and its pods.
* **Managed** (``managed:`` block): render the Deployment and its companions
  (:mod:`.render`), apply them idempotently, roll back a failed apply, delete everything on
  :meth:`KubernetesProvider.delete`.

Scale-down prefers idle pods. Each pod's sidecar publishes its worker's in-flight task count as the
pod annotation ``workerplane.dev/in-flight``; right before shrinking, the provider copies it into
``controller.kubernetes.io/pod-deletion-cost``, which the ReplicaSet controller uses to pick the
pods to delete (lowest cost first). Copying only at shrink time keeps pod updates rare, as the
Kubernetes docs ask for that annotation.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from workerplane.providers.base import (
    Provider,
    ProviderCheck,
    ProviderError,
    WorkerEnvironment,
)
from workerplane.providers.kubernetes.api import KubeApi, KubeApiError, ObjectRef
from workerplane.providers.kubernetes.apply import ObjectApplier, annotations_of, foreign_owner
from workerplane.providers.kubernetes.details import POLICY_ENV, ClusterPolicy, K8sDetails
from workerplane.providers.kubernetes.names import (
    ANN_DELETION_COST,
    ANN_IN_FLIGHT,
    ANN_OWNER,
    ANN_RUNNING_SINCE,
    ANN_SLOTS,
    ANN_WORKER_STATE,
    version_object_name,
)
from workerplane.providers.kubernetes.render import (
    ManagedObjects,
    owner_value,
    render_managed,
)
from workerplane.scaling.retire import pick_retirees, retire_order
from workerplane.scaling.types import Strategy, WorkerCensus, WorkerLoad

log = logging.getLogger(__name__)


def load_cluster_policy(path: str | os.PathLike[str] | None = None) -> ClusterPolicy:
    """The policy from ``path``, else from ``$WORKERPLANE_K8S_POLICY``, else the defaults.

    A file's ``gpu_types`` REPLACE the defaults (the operator lists what the cluster has).
    """
    source = path if path is not None else os.environ.get(POLICY_ENV)
    if not source:
        return ClusterPolicy()
    data = yaml.safe_load(Path(source).read_text()) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{source}: the Kubernetes policy must be a YAML mapping")
    return ClusterPolicy.model_validate(data)


def _count_annotation(pod: dict[str, Any], key: str) -> int | None:
    """A non-negative count a pod published under ``key``, or ``None`` (none, or garbage)."""
    raw = annotations_of(pod).get(key)
    try:
        value = int(raw) if raw is not None else None
    except ValueError:
        return None
    return value if value is None or value >= 0 else None


def in_flight_of(pod: dict[str, Any]) -> int | None:
    """The in-flight count a pod published, or ``None`` if it published none (or garbage)."""
    return _count_annotation(pod, ANN_IN_FLIGHT)


def load_of(pod: dict[str, Any], now: float) -> WorkerLoad | None:
    """A pod's tasks in flight and how long they have run, or ``None`` if it published no
    count. Without a start time (an older sidecar, or garbage) its tasks count as just started."""
    in_flight = in_flight_of(pod)
    if in_flight is None:
        return None
    try:
        since = float(annotations_of(pod).get(ANN_RUNNING_SINCE) or now)
    except ValueError:
        since = now
    return WorkerLoad(in_flight, in_flight * max(0.0, now - since) if in_flight else 0.0)


def deleting(pod: dict[str, Any]) -> bool:
    """Whether a pod is being deleted (no candidate for the census or a scale-down)."""
    return bool((pod.get("metadata") or {}).get("deletionTimestamp"))


def polling(pod: dict[str, Any]) -> bool:
    """Whether a pod's worker says it polls (and the pod is not being deleted)."""
    return not deleting(pod) and annotations_of(pod).get(ANN_WORKER_STATE) == "polling"


class KubernetesProvider(Provider):
    """Scales (and, in managed mode, owns) one Kubernetes Deployment per scaling group."""

    type = "k8s"
    strategy = Strategy.WORKER_SET

    def __init__(
        self,
        details: K8sDetails,
        *,
        worker_env: WorkerEnvironment,
        deployment: str,
        group_id: str,
        policy: ClusterPolicy | None = None,
        api: KubeApi | None = None,
    ) -> None:
        if details.managed is not None and worker_env.build_id:
            # One managed Deployment per version: two versions of a deployment never share one.
            name = version_object_name(details.deployment, worker_env.build_id)
            details = details.model_copy(update={"deployment": name})
        self.details = details
        self.worker_env = worker_env.with_secrets(
            details.managed.secret_env if details.managed is not None else {}
        )
        self.owner = owner_value(deployment, group_id)
        self.deployment = deployment
        self.group_id = group_id
        self.policy = policy or load_cluster_policy()
        self._api = api
        self._selector: dict[str, str] | None = None
        self._desired: int | None = None
        #: The most recent apiserver error, for status pages ("429 TooManyRequests after 6 tries").
        self.last_error: str | None = None

    # -- construction -------------------------------------------------------------------------

    @property
    def api(self) -> KubeApi:
        if self._api is None:
            kubeconfig = self.details.kubeconfig
            self._api = KubeApi.connect(
                kubeconfig.get_secret_value() if kubeconfig else None, self.details.context
            )
        return self._api

    @property
    def claim(self) -> str:
        """The Deployment, in its cluster: a replacement provider applies its own template to
        it (a rolling update), so the old one must not scale it down."""
        return self.details.sized_object()

    @property
    def ref(self) -> ObjectRef:
        return ObjectRef("Deployment", self.details.namespace, self.details.deployment)

    def render(self) -> ManagedObjects:
        """The managed objects for the current details (managed mode only)."""
        return render_managed(
            self.details,
            self.worker_env,
            self.policy,
            owner=self.owner,
            deployment=self.deployment,
            group_id=self.group_id,
        )

    def policy_problems(self) -> list[str]:
        """The cluster policy's refusals (namespace, per-pod limits), checked before any request."""
        return [str(problem) for problem in self.details.check_policy(self.policy)]

    @contextlib.contextmanager
    def _recording_errors(self) -> Iterator[None]:
        """Keep the latest apiserver error for status pages ("429 ... after 6 tries"); a call
        that succeeds clears it."""
        try:
            yield
        except ProviderError as exc:
            self.last_error = str(exc)
            raise
        self.last_error = None

    def _missing(self) -> ProviderError:
        return ProviderError(
            f"Deployment {self.ref.namespace}/{self.ref.name} not found",
            kind="not_found",
            retryable=False,
        )

    # -- Provider API ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Managed: apply the rendered objects. User-owned: make sure the Deployment exists."""
        if self.details.managed is not None:
            await self.apply()
            return
        check = await self.validate()
        if not check.ok:
            raise ProviderError(check.message, kind=check.kind or "invalid", retryable=False)

    async def validate(self) -> ProviderCheck:
        problems = self.policy_problems()
        if problems:
            return ProviderCheck(False, "; ".join(problems), "invalid")
        try:
            live = await self.api.get(self.ref)
        except KubeApiError as exc:
            return ProviderCheck(False, str(exc), exc.kind)
        if self.details.managed is None:
            if live is None:
                return ProviderCheck(
                    False,
                    f"deployment: Deployment {self.details.namespace}/{self.details.deployment} "
                    "not found (create it, or add a managed block to let workerplane own it)",
                    "not_found",
                )
            return ProviderCheck(True)
        if live is not None and annotations_of(live).get(ANN_OWNER) != self.owner:
            return ProviderCheck(False, foreign_owner(self.ref, live), "invalid")
        return ProviderCheck(True)

    async def set_size(self, size: int) -> None:
        if size < 0:
            raise ProviderError(f"size must be >= 0, got {size}", kind="invalid", retryable=False)
        if size > self.policy.max_replicas:
            raise ProviderError(
                f"size {size} is above the cluster limit of {self.policy.max_replicas} replicas",
                kind="invalid",
                retryable=False,
            )
        with self._recording_errors():
            scale = await self.api.get(self.ref, sub="scale")
            if scale is None:
                raise self._missing()
            current = int((scale.get("spec") or {}).get("replicas") or 0)
            if size < current:
                await self.mark_deletion_costs()
            if size != current:
                await self.api.patch(self.ref, {"spec": {"replicas": size}}, sub="scale")
                log.info("k8s %s: replicas %d -> %d", self.ref, current, size)
        self._desired = size

    async def census(self) -> WorkerCensus:
        with self._recording_errors():
            live = await self.api.get(self.ref)
            if live is None:
                raise self._missing()
            pods = await self._pods(live)
        spec = live.get("spec") or {}
        status = live.get("status") or {}
        reports = [in_flight_of(p) for p in pods]
        known = [r for r in reports if r is not None]
        in_flight: int | None = sum(known) if known or not pods else None
        slots = [s for p in pods if (s := _count_annotation(p, ANN_SLOTS))]
        now = time.time()
        loads = [load_of(p, now) for p in pods if polling(p)]
        return WorkerCensus(
            running=int(status.get("replicas") or 0),
            ready=int(status.get("readyReplicas") or 0),
            in_flight=in_flight,
            desired=int(spec.get("replicas") or 0),
            slots=min(slots) if slots else None,
            loads=None if None in loads else retire_order([x for x in loads if x is not None]),
        )

    async def drain(self, timeout_s: float) -> None:
        """Scale to zero and wait (up to ``timeout_s``) until no pod is left."""
        await self.set_size(0)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            census = await self.census()
            if census.running == 0:
                return
            await asyncio.sleep(1.0)

    async def remove_resources(self) -> None:
        """Delete the version's managed objects (its Deployment, ...) once its sunset is over."""
        await self.delete()

    async def close(self) -> None:
        if self._api is not None:
            self._api.close()
            self._api = None

    # -- scale-down ordering --------------------------------------------------------------------

    async def _pods(self, deployment: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        if self._selector is None:
            live = deployment or await self.api.get(self.ref)
            selector = (((live or {}).get("spec") or {}).get("selector") or {}).get("matchLabels")
            if not selector:
                return []
            self._selector = dict(selector)
        return await self.api.list("Pod", self.details.namespace, self._selector)

    async def mark_deletion_costs(self) -> int:
        """Rank the pods by what retiring them saves into their pod-deletion-costs: 0 for an idle
        pod, then 1, 2, ... by how long their tasks have run (:mod:`workerplane.scaling.retire`:
        a pod whose tasks ran longest goes last, as its tasks are the likeliest to run on).

        Returns how many pods were updated. Pods that published nothing keep their cost, and a pod
        that vanished meanwhile is skipped (it is no candidate any more).
        """
        now = time.time()
        loads: list[tuple[dict[str, Any], WorkerLoad]] = []
        for pod in await self._pods():
            load = load_of(pod, now)
            if load is not None and not deleting(pod):
                loads.append((pod, load))
        ranked = pick_retirees(loads, len(loads), lambda pair: pair[1])
        updated = 0
        busy_rank = 0
        for pod, load in ranked:
            meta = pod.get("metadata") or {}
            busy_rank += load.in_flight > 0
            cost = str(busy_rank if load.in_flight > 0 else 0)
            if annotations_of(pod).get(ANN_DELETION_COST) == cost:
                continue
            ref = ObjectRef("Pod", self.details.namespace, meta.get("name", ""))
            try:
                await self.api.patch(ref, {"metadata": {"annotations": {ANN_DELETION_COST: cost}}})
            except KubeApiError as exc:
                if exc.status != 404:
                    raise
                continue
            updated += 1
        return updated

    # -- managed mode ---------------------------------------------------------------------------

    async def apply(self) -> ManagedObjects:
        """Create or update every managed object; on failure undo what this call did.

        Validation (GPU type, resource ceilings, namespace) happens first, before any request.
        """
        problems = self.policy_problems()
        if problems:
            raise ProviderError("; ".join(problems), kind="invalid", retryable=False)
        objects = self.render()
        with self._recording_errors():
            await ObjectApplier(self.api, self.owner).apply(objects)
        self._selector = dict(objects.selector)
        return objects

    async def delete(self) -> list[ObjectRef]:
        """Remove every object this group owns (managed mode). Returns what was deleted.

        A user-owned Deployment is never deleted.
        """
        if self.details.managed is None:
            return []
        return await ObjectApplier(self.api, self.owner).delete(self.render())
