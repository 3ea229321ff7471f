"""A small async facade over the official ``kubernetes`` client, with retries that report status.

The official client is synchronous; each call runs in a worker thread (``asyncio.to_thread``) so the
controller's event loop never blocks. Bodies are plain dicts (what :mod:`.render` produces) and
responses are parsed JSON, so the same code reads a ``Scale`` and a ``Deployment`` the same way.

Failures become :class:`KubeApiError` (a :class:`ProviderError`) that keeps the HTTP status:

* 409 ``Conflict``, 429 ``TooManyRequests`` and 5xx are retried with capped exponential backoff
  and full jitter (:mod:`workerplane.providers._retry`); when the budget is spent the last status
  is raised, e.g. ``apiserver returned 503 ServiceUnavailable after 6 tries``;
* a 409 on *create* means "already exists" and is reported at once (``kind="exists"``) so the
  caller can adopt or refuse the object instead of retrying;
* 404 is ``not_found``, 401/403 ``access_denied``, 400/422 ``invalid``: never retried.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from dataclasses import dataclass
from typing import Any

import yaml
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config

from workerplane.providers._retry import Backoff, retry_async
from workerplane.providers.base import ProviderError

log = logging.getLogger(__name__)

#: kind -> (API prefix, plural). Only what workerplane touches.
RESOURCES: dict[str, tuple[str, str]] = {
    "Deployment": ("/apis/apps/v1", "deployments"),
    "PodDisruptionBudget": ("/apis/policy/v1", "poddisruptionbudgets"),
    "Secret": ("/api/v1", "secrets"),
    "ServiceAccount": ("/api/v1", "serviceaccounts"),
    "Role": ("/apis/rbac.authorization.k8s.io/v1", "roles"),
    "RoleBinding": ("/apis/rbac.authorization.k8s.io/v1", "rolebindings"),
    "Pod": ("/api/v1", "pods"),
    "Lease": ("/apis/coordination.k8s.io/v1", "leases"),
}

MERGE_PATCH = "application/merge-patch+json"
RETRYABLE_STATUS = frozenset({409, 429, 500, 502, 503, 504})


class KubeApiError(ProviderError):
    """An apiserver call failed.

    Attributes:
        status: the HTTP status (0 when the apiserver could not be reached).
        reason: the ``Status.reason`` the apiserver gave ("Conflict", "NotFound", ...).
    """

    def __init__(self, message: str, *, status: int, reason: str, kind: str, retryable: bool):
        super().__init__(message, kind=kind, retryable=retryable)
        self.status = status
        self.reason = reason


def _classify(status: int, on_create: bool) -> tuple[str, bool]:
    if status == 409 and on_create:
        return "exists", False
    if status in RETRYABLE_STATUS:
        return ("throttled" if status == 429 else "internal"), True
    if status == 404:
        return "not_found", False
    if status in (401, 403):
        return "access_denied", False
    return "invalid", False


@dataclass(frozen=True)
class ObjectRef:
    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"


def load_api_client(kubeconfig: str | None = None, context: str | None = None) -> Any:
    """An ``ApiClient`` from kubeconfig content, a kubeconfig path, ``$KUBECONFIG``, or in-cluster.

    ``kubeconfig`` is Temporal's key: the file's CONTENT. A value that does not parse as a YAML
    mapping is taken as a path instead.
    """
    configuration = k8s_client.Configuration()
    if kubeconfig:
        try:
            parsed = yaml.safe_load(kubeconfig)
        except yaml.YAMLError:
            parsed = None
        if isinstance(parsed, dict):
            k8s_config.load_kube_config_from_dict(
                parsed, context=context, client_configuration=configuration
            )
        else:
            k8s_config.load_kube_config(
                config_file=os.path.expanduser(kubeconfig),
                context=context,
                client_configuration=configuration,
            )
    elif os.environ.get("KUBERNETES_SERVICE_HOST") and not context:
        k8s_config.load_incluster_config(client_configuration=configuration)
    else:
        k8s_config.load_kube_config(context=context, client_configuration=configuration)
    # urllib3's own silent retries would hide statuses from us; we retry ourselves.
    configuration.retries = False
    return k8s_client.ApiClient(configuration)


class KubeApi:
    """Async CRUD on the few kinds workerplane uses, with retries and status-bearing errors."""

    def __init__(
        self,
        api_client: Any,
        *,
        backoff: Backoff | None = None,
        request_timeout_s: float = 20.0,
    ) -> None:
        self._client = api_client
        self._backoff = backoff or Backoff(attempts=6, base_s=0.2, max_s=5.0)
        self._timeout = request_timeout_s

    @classmethod
    def connect(
        cls, kubeconfig: str | None = None, context: str | None = None, **kw: Any
    ) -> KubeApi:
        return cls(load_api_client(kubeconfig, context), **kw)

    def close(self) -> None:
        self._client.close()

    @staticmethod
    def path(kind: str, namespace: str, name: str | None = None, sub: str | None = None) -> str:
        prefix, plural = RESOURCES[kind]
        path = f"{prefix}/namespaces/{namespace}/{plural}"
        if name is not None:
            path += f"/{name}"
        if sub is not None:
            path += f"/{sub}"
        return path

    def _call_sync(
        self,
        method: str,
        path: str,
        body: Any,
        query: list[tuple[str, str]],
        content_type: str,
        what: str,
        secret: bool,
    ) -> Any:
        headers = {"Accept": "application/json", "Content-Type": content_type}
        params = self._client.param_serialize(
            method=method,
            resource_path=path,
            query_params=query,
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        try:
            resp = self._client.call_api(*params, _request_timeout=self._timeout)
            raw = resp.read()
        except Exception as exc:  # urllib3 connection errors, timeouts
            raise KubeApiError(
                f"{what}: apiserver unreachable ({type(exc).__name__})",
                status=0,
                reason="Unreachable",
                kind="internal",
                retryable=True,
            ) from None
        status = int(resp.status)
        data: Any = None
        if raw:
            try:
                data = json.loads(raw)
            except ValueError:
                data = None
        if status >= 400:
            reason = (data or {}).get("reason") if isinstance(data, dict) else None
            reason = reason or str(resp.reason or "")
            message = (data or {}).get("message", "") if isinstance(data, dict) else ""
            kind, retryable = _classify(status, on_create=method == "POST")
            text = f"{what}: apiserver returned {status} {reason}"
            # Error messages about Secrets may quote the rejected values: never pass them on.
            if message and not secret:
                text += f": {str(message)[:300]}"
            raise KubeApiError(text, status=status, reason=reason, kind=kind, retryable=retryable)
        return data

    async def call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        query: list[tuple[str, str]] | None = None,
        content_type: str = "application/json",
        what: str,
        secret: bool = False,
    ) -> Any:
        """One request, retried on 409/429/5xx; the final error names the status and the tries."""
        tries = 0

        async def attempt() -> Any:
            nonlocal tries
            tries += 1
            return await asyncio.to_thread(
                self._call_sync, method, path, body, query or [], content_type, what, secret
            )

        try:
            return await retry_async(attempt, backoff=self._backoff, what=what)
        except KubeApiError as exc:
            if exc.retryable and tries > 1:
                raise KubeApiError(
                    f"{exc} (after {tries} tries)",
                    status=exc.status,
                    reason=exc.reason,
                    kind=exc.kind,
                    retryable=True,
                ) from None
            raise

    async def get(self, ref: ObjectRef, sub: str | None = None) -> dict[str, Any] | None:
        """The object, or ``None`` if it does not exist."""
        try:
            data: dict[str, Any] = await self.call(
                "GET",
                self.path(ref.kind, ref.namespace, ref.name, sub),
                what=f"get {ref}" + (f"/{sub}" if sub else ""),
            )
        except KubeApiError as exc:
            if exc.status == 404:
                return None
            raise
        return data

    async def create(self, ref: ObjectRef, body: dict[str, Any], secret: bool = False) -> Any:
        return await self.call(
            "POST",
            self.path(ref.kind, ref.namespace),
            body=body,
            what=f"create {ref}",
            secret=secret,
        )

    async def patch(
        self, ref: ObjectRef, body: dict[str, Any], sub: str | None = None, secret: bool = False
    ) -> Any:
        """A JSON merge patch (RFC 7386): ``null`` deletes a key, lists are replaced whole."""
        return await self.call(
            "PATCH",
            self.path(ref.kind, ref.namespace, ref.name, sub),
            body=body,
            content_type=MERGE_PATCH,
            what=f"patch {ref}" + (f"/{sub}" if sub else ""),
            secret=secret,
        )

    async def delete(self, ref: ObjectRef) -> bool:
        """Delete (pods of a Deployment go with it); ``False`` if it was already gone."""
        try:
            await self.call(
                "DELETE",
                self.path(ref.kind, ref.namespace, ref.name),
                body={
                    "kind": "DeleteOptions",
                    "apiVersion": "v1",
                    "propagationPolicy": "Background",
                },
                what=f"delete {ref}",
            )
        except KubeApiError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    async def list(
        self, kind: str, namespace: str, match_labels: dict[str, str] | None = None
    ) -> list[dict[str, Any]]:
        """Objects of ``kind`` in ``namespace`` whose labels include ``match_labels``.

        The selector is sent to the apiserver and checked again here, so a server that ignores
        ``labelSelector`` (an emulator, an old proxy) cannot hand us another group's pods.
        """
        query: list[tuple[str, str]] = []
        if match_labels:
            query.append(("labelSelector", ",".join(f"{k}={v}" for k, v in match_labels.items())))
        data = await self.call(
            "GET", self.path(kind, namespace), query=query, what=f"list {kind} in {namespace}"
        )
        items: list[dict[str, Any]] = (data or {}).get("items") or []
        if match_labels:
            items = [
                item
                for item in items
                if all(
                    ((item.get("metadata") or {}).get("labels") or {}).get(k) == v
                    for k, v in match_labels.items()
                )
            ]
        return items
