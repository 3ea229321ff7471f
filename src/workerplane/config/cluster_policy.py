"""A spec against the Kubernetes cluster policy: what ``workerplane validate`` adds to the rules.

The cluster operator's :class:`~workerplane.providers.kubernetes.details.ClusterPolicy` (allowed
namespaces, per-pod ceilings, GPU types) is not part of a spec, so :func:`validate_spec` cannot
know it. The edge that has it (the ``validate`` command reads ``WORKERPLANE_K8S_POLICY``, the file
the Helm chart mounts into ``serve``) passes it in here and gets issues in the spec's own terms:
the full field path and the rule, as for every other issue. The provider runs the same check
(:meth:`K8sDetails.check_policy`) before any request, so a spec that passes here is not refused
later for the same reason.

Pure: no file is read here.
"""

from __future__ import annotations

from pydantic import ValidationError

from workerplane.config.issue_paths import group_path
from workerplane.config.model import DeploymentSpec
from workerplane.errors import ValidationIssue
from workerplane.providers.kubernetes.details import ClusterPolicy, K8sDetails

K8S_PROVIDER = "k8s"


def uses_kubernetes(spec: DeploymentSpec) -> bool:
    """Whether any scaling group runs on Kubernetes (only then does the policy matter)."""
    return any(g.provider.type == K8S_PROVIDER for g in spec.compute.scaling_groups.values())


def cluster_policy_issues(spec: DeploymentSpec, policy: ClusterPolicy) -> list[ValidationIssue]:
    """Every way the spec's ``k8s`` groups break ``policy``, one issue per field.

    Groups whose details do not even parse are skipped: :func:`validate_spec` reports those.
    """
    issues: list[ValidationIssue] = []
    for key, group in spec.compute.scaling_groups.items():
        if group.provider.type != K8S_PROVIDER:
            continue
        try:
            details = K8sDetails.model_validate(group.provider.details)
        except ValidationError:
            continue
        base = f"{group_path(key)}.provider.details"
        issues.extend(
            ValidationIssue(f"{base}.{problem.field}", problem.rule, key, "cluster-policy")
            for problem in details.check_policy(policy)
        )
    return issues
