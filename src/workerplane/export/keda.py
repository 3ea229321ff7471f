"""Export a deployment's Kubernetes groups as KEDA ``ScaledObject`` s (trigger ``type: temporal``).

For teams that already run KEDA: each ``k8s`` scaling group becomes one ScaledObject targeting the
group's Deployment, with one ``temporal`` trigger per task queue and KEDA's real metadata keys:

=============================  ===============================================================
``endpoint``                   ``temporal.address``
``namespace``                  ``temporal.namespace`` (KEDA's default: ``default``)
``taskQueue``                  each of ``task_queues``
``targetQueueSize``            the ``backlog`` scaler's ``target_per_worker`` (rounded up)
``activationTargetQueueSize``  0: activate on the first waiting task
``queueTypes``                 the group's task queue types, e.g. ``activity``
``workerDeploymentName``       ``deployment.name`` } set together, versioned workers only
``workerDeploymentBuildId``    ``deployment.build_id`` }
=============================  ===============================================================

Credentials go through a ``TriggerAuthentication`` whose ``secretTargetRef`` entries point at a
Secret (``apiKey``, ``cert``, ``key``, ``ca``): never a value in the output.

Semantics differ from workerplane's own controller, and the export says so in an annotation: KEDA
scales on backlog alone (``desired = ceil(backlog / targetQueueSize)``), so in-flight work is not
counted and an empty backlog can scale to zero while activities still run.

Every object is validated against KEDA's CRD schema (vendored in ``schemas/``) before it is
returned, including a check for fields the schema does not declare (which the apiserver would
silently prune).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import jsonschema
import yaml

from workerplane.config.model import DeploymentSpec, TLSSettings, effective_task_queue_types
from workerplane.providers.kubernetes.details import K8sDetails
from workerplane.scaling.registry import DEFAULT_SCALER

SCALED_OBJECT_SCHEMA = "keda.sh_scaledobjects.v1alpha1.schema.yaml"
TRIGGER_AUTH_SCHEMA = "keda.sh_triggerauthentications.v1alpha1.schema.yaml"

#: Scaler defaults for the keys the export reads (see each scaler's details model).
_DEFAULTS: dict[str, dict[str, float]] = {
    "backlog": {"min_count": 0, "max_count": 10, "target_per_worker": 10.0},
    "rate-based": {"min_count": 0, "max_count": 30},
    "slo": {"min_count": 0, "max_count": 10},
}


class ExportError(ValueError):
    """The spec cannot be exported; the message names the field and the rule."""


@dataclass(frozen=True)
class KedaOptions:
    """Choices the spec does not make.

    Attributes:
        group: export only this scaling group (default: every ``k8s`` group).
        credentials_secret: a Secret holding Temporal credentials for KEDA, overriding the one
            the spec implies; its keys are ``api_key_key``/``cert_key``/``key_key``/``ca_key``.
        target_queue_size: override ``targetQueueSize`` (required for scalers without a
            per-worker target, e.g. ``rate-based``, where KEDA's default 5 is used otherwise).
    """

    group: str | None = None
    credentials_secret: str | None = None
    api_key_key: str = "api-key"
    cert_key: str | None = None
    key_key: str | None = None
    ca_key: str | None = None
    target_queue_size: int | None = None


@cache
def _schema(name: str) -> dict[str, Any]:
    text = resources.files("workerplane.export").joinpath("schemas", name).read_text()
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def _unknown_fields(value: Any, schema: dict[str, Any], path: str) -> list[str]:
    """Fields the structural schema does not declare (the apiserver prunes them silently)."""
    problems: list[str] = []
    if isinstance(value, dict) and schema.get("type") == "object":
        props = schema.get("properties")
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            where = f"{path}.{key}" if path else key
            if props is not None and key in props:
                problems += _unknown_fields(item, props[key], where)
            elif isinstance(extra, dict):
                problems += _unknown_fields(item, extra, where)
            elif props is not None and not schema.get("x-kubernetes-preserve-unknown-fields"):
                problems.append(f"{where}: unknown field")
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            problems += _unknown_fields(item, schema["items"], f"{path}[{i}]")
    return problems


def validate_keda_object(obj: dict[str, Any]) -> list[str]:
    """Check a ScaledObject or TriggerAuthentication against KEDA's CRD schema.

    Returns ``path: reason`` lines; empty when valid.
    """
    kind = obj.get("kind")
    name = {"ScaledObject": SCALED_OBJECT_SCHEMA, "TriggerAuthentication": TRIGGER_AUTH_SCHEMA}
    if kind not in name or obj.get("apiVersion") != "keda.sh/v1alpha1":
        return [
            f"kind: expected keda.sh/v1alpha1 ScaledObject or TriggerAuthentication, got {kind}"
        ]
    schema = _schema(name[kind])
    validator = jsonschema.Draft7Validator(schema)
    problems = [
        f"{'.'.join(str(p) for p in err.absolute_path) or '<root>'}: {err.message}"
        for err in sorted(validator.iter_errors(obj), key=lambda e: list(e.absolute_path))
    ]
    problems += _unknown_fields(obj, schema, "")
    for key in ("name", "namespace"):
        if not (obj.get("metadata") or {}).get(key):
            problems.append(f"metadata.{key}: required")
    return problems


def _tls_parts(tls: bool | TLSSettings | None) -> dict[str, bool]:
    if not isinstance(tls, TLSSettings):
        return {}
    return {
        "cert": tls.client_cert_data is not None,
        "key": tls.client_key_data is not None,
        "ca": tls.server_ca_cert_data is not None,
    }


def _auth_refs(
    spec: DeploymentSpec, details: K8sDetails, opts: KedaOptions
) -> list[dict[str, str]]:
    """``secretTargetRef`` entries for the trigger's credentials (names and keys only)."""
    if opts.credentials_secret:
        pairs = [
            ("apiKey", opts.api_key_key),
            ("cert", opts.cert_key),
            ("key", opts.key_key),
            ("ca", opts.ca_key),
        ]
        return [{"parameter": p, "name": opts.credentials_secret, "key": k} for p, k in pairs if k]
    creds = details.managed.credentials if details.managed else None
    if creds is not None:
        pairs = [
            ("apiKey", creds.api_key_key),
            ("cert", creds.tls_cert_key),
            ("key", creds.tls_key_key),
            ("ca", creds.ca_cert_key),
        ]
        return [{"parameter": p, "name": creds.secret, "key": k} for p, k in pairs if k]
    # The Secret managed mode creates from the spec's own credentials: keys are the env names.
    secret = f"{details.deployment}-temporal"
    refs = []
    if spec.temporal.api_key is not None:
        refs.append({"parameter": "apiKey", "name": secret, "key": "TEMPORAL_API_KEY"})
    tls = _tls_parts(spec.temporal.tls)
    for param, var in (
        ("cert", "TEMPORAL_TLS_CLIENT_CERT_DATA"),
        ("key", "TEMPORAL_TLS_CLIENT_KEY_DATA"),
        ("ca", "TEMPORAL_TLS_SERVER_CA_CERT_DATA"),
    ):
        if tls.get(param):
            refs.append({"parameter": param, "name": secret, "key": var})
    if isinstance(spec.temporal.tls, TLSSettings) and any(
        p is not None
        for p in (spec.temporal.tls.client_cert_path, spec.temporal.tls.client_key_path)
    ):
        raise ExportError(
            "temporal.tls: client certificate files on this machine cannot reach KEDA; "
            "put them in a Secret and pass --credentials-secret"
        )
    return refs


def export_keda(spec: DeploymentSpec, opts: KedaOptions | None = None) -> list[dict[str, Any]]:
    """The KEDA objects for ``spec``: per ``k8s`` group a ScaledObject (+ TriggerAuthentication).

    Raises:
        ExportError: nothing to export, a missing endpoint, or an object KEDA would reject.
    """
    opts = opts or KedaOptions()
    groups = spec.compute.scaling_groups
    if opts.group is not None and opts.group not in groups:
        raise ExportError(f"--group: no scaling group {opts.group!r} (have: {', '.join(groups)})")
    selected = [
        gid
        for gid, g in groups.items()
        if g.provider.type == "k8s" and (opts.group is None or gid == opts.group)
    ]
    if not selected:
        raise ExportError(
            "compute.scaling_groups: no group with provider type 'k8s' to export "
            "(KEDA scales Kubernetes Deployments only)"
        )
    address = spec.temporal.address
    if not address:
        raise ExportError("temporal.address: required for the KEDA export (KEDA's 'endpoint')")
    namespace = spec.temporal.namespace or "default"
    out: list[dict[str, Any]] = []
    for gid in selected:
        group = groups[gid]
        where = f"compute.scaling_groups.{gid}"
        try:
            details = K8sDetails.model_validate(group.provider.details)
        except ValueError as exc:
            raise ExportError(f"{where}.provider.details: {exc}") from None
        scaler_type = group.scaler.type or DEFAULT_SCALER
        scaler = {**_DEFAULTS.get(scaler_type, {}), **group.scaler.details}
        min_count = int(scaler.get("min_count", 0))
        max_count = int(scaler.get("max_count", 10))
        if opts.target_queue_size is not None:
            target = opts.target_queue_size
        elif "target_per_worker" in scaler:
            target = max(1, math.ceil(float(scaler["target_per_worker"])))
        else:
            target = 5  # KEDA's own default
        types = ",".join(t.lower() for t in effective_task_queue_types(spec.compute, gid))
        labels = {
            "app.kubernetes.io/managed-by": "workerplane",
            "workerplane.dev/deployment": spec.name,
            "workerplane.dev/group": gid,
        }
        name = details.deployment
        refs = _auth_refs(spec, details, opts)
        triggers = []
        for queue in spec.task_queues:
            metadata = {
                "endpoint": address,
                "namespace": namespace,
                "taskQueue": queue,
                "targetQueueSize": str(target),
                "activationTargetQueueSize": "0",
                "queueTypes": types,
            }
            if spec.deployment is not None:
                metadata["workerDeploymentName"] = spec.deployment.name
                metadata["workerDeploymentBuildId"] = spec.deployment.build_id
            trigger: dict[str, Any] = {"type": "temporal", "name": queue, "metadata": metadata}
            if refs:
                trigger["authenticationRef"] = {"name": f"{name}-temporal"}
            triggers.append(trigger)
        so_spec: dict[str, Any] = {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicaCount": min_count,
            "maxReplicaCount": max_count,
            "triggers": triggers,
        }
        if "metrics_poll_interval_ms" in scaler:
            so_spec["pollingInterval"] = max(
                1, math.ceil(scaler["metrics_poll_interval_ms"] / 1000)
            )
        if "scale_down_cooldown_ms" in scaler:
            cooldown = max(0, math.ceil(scaler["scale_down_cooldown_ms"] / 1000))
            so_spec["cooldownPeriod"] = cooldown
            so_spec["advanced"] = {
                "horizontalPodAutoscalerConfig": {
                    "behavior": {"scaleDown": {"stabilizationWindowSeconds": min(cooldown, 3600)}}
                }
            }
        if refs:
            out.append(
                {
                    "apiVersion": "keda.sh/v1alpha1",
                    "kind": "TriggerAuthentication",
                    "metadata": {
                        "name": f"{name}-temporal",
                        "namespace": details.namespace,
                        "labels": labels,
                    },
                    "spec": {"secretTargetRef": refs},
                }
            )
        out.append(
            {
                "apiVersion": "keda.sh/v1alpha1",
                "kind": "ScaledObject",
                "metadata": {
                    "name": name,
                    "namespace": details.namespace,
                    "labels": labels,
                    "annotations": {
                        "workerplane.dev/exported-from": f"{spec.name}/{gid}",
                        "workerplane.dev/note": (
                            "KEDA scales on backlog only: in-flight work is not counted, and an "
                            "empty backlog may scale to minReplicaCount while tasks still run"
                        ),
                    },
                },
                "spec": so_spec,
            }
        )
    for obj in out:
        problems = validate_keda_object(obj)
        if problems:
            raise ExportError(
                f"{obj['kind']} {obj['metadata']['name']}: " + "; ".join(problems)
            )  # pragma: no cover - a bug in this module, not in the user's input
    return out


def dump_yaml(objects: list[dict[str, Any]]) -> str:
    """Multi-document YAML, ready for ``kubectl apply -f -``."""
    return yaml.safe_dump_all(objects, sort_keys=False, explicit_start=True)
