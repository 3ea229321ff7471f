"""kmock (the in-memory apiserver the provider tests use) plus the RBAC authorizer it lacks.

kmock stores objects but authorizes nothing. :class:`RbacEmulator` answers 403 Forbidden, before
kmock sees the request, to a request whose bearer token is a ServiceAccount's
(``system:serviceaccount:<namespace>:<name>``, what a pod's in-cluster token stands for) unless
a Role bound to that ServiceAccount in the request's namespace grants the verb on the resource:
the rules of Kubernetes' RBAC authorizer for namespaced Roles (no ClusterRoles, which the chart
does not use). Any other token is the test's cluster admin. Roles and RoleBindings are read from
the emulator's own store, so what the test applied from the rendered chart is what is enforced.
"""

from __future__ import annotations

from typing import Any

import attrs
import kmock
from kmock._internal.k8s import KubernetesError

SA_PREFIX = "system:serviceaccount:"


def rbac_verb(method: str, name: str | None, params: dict[str, str]) -> str:
    """The RBAC verb of an HTTP request on a resource URL."""
    if method == "GET":
        if params.get("watch") == "true":
            return "watch"
        return "get" if name else "list"
    if method == "DELETE":
        return "delete" if name else "deletecollection"
    return {"POST": "create", "PATCH": "patch", "PUT": "update"}[method]


def grants(rule: dict[str, Any], group: str, resource: str, verb: str) -> bool:
    return (
        bool({group, "*"} & set(rule.get("apiGroups", [])))
        and bool({resource, "*"} & set(rule.get("resources", [])))
        and bool({verb, "*"} & set(rule.get("verbs", [])))
    )


@attrs.define(kw_only=True)
class RbacEmulator(kmock.KubernetesEmulator):
    """kmock with namespaced RBAC enforced for ServiceAccount tokens."""

    #: Every refusal, as ``"<verb> <resource> in <namespace>"``.
    denied: list[str] = attrs.field(factory=list)
    #: Every request a ServiceAccount made, as ``"<verb> <resource> in <namespace>"``.
    requests: list[str] = attrs.field(factory=list)

    def stored(self, plural: str, namespace: str) -> list[dict[str, Any]]:
        """The live RBAC objects of kind ``plural`` in ``namespace``."""
        return [
            obj.raw
            for (resource, obj_namespace, _), obj in list(self._objects.items())
            if resource.plural == plural and obj_namespace == namespace and not obj.deleted
        ]

    def allowed(self, user: str, namespace: str, group: str, resource: str, verb: str) -> bool:
        sa_namespace, _, sa_name = user.removeprefix(SA_PREFIX).partition(":")
        subject = {"kind": "ServiceAccount", "name": sa_name, "namespace": sa_namespace}
        roles = {r["metadata"]["name"]: r for r in self.stored("roles", namespace)}
        for binding in self.stored("rolebindings", namespace):
            if subject not in binding.get("subjects", []) or binding["roleRef"]["kind"] != "Role":
                continue
            role = roles.get(binding["roleRef"]["name"])
            if role and any(grants(rule, group, resource, verb) for rule in role["rules"]):
                return True
        return False

    async def _handle(self, request: Any) -> Any:
        token = str(request.headers.get("Authorization", "")).removeprefix("Bearer ")
        if request.resource is not None and token.startswith(SA_PREFIX):
            method = str(getattr(request.method, "value", request.method)).upper()
            verb = rbac_verb(method, request.name, dict(request.params))
            resource = request.resource.plural + (
                f"/{request.subresource}" if request.subresource else ""
            )
            namespace = request.namespace or ""
            what = f"{verb} {resource} in {namespace or 'the cluster'}"
            self.requests.append(what)
            if not namespace or not self.allowed(
                token, namespace, request.resource.group or "", resource, verb
            ):
                self.denied.append(what)
                return await self._render_error(
                    KubernetesError(
                        status=403,
                        reason="Forbidden",
                        message=f'User "{token}" cannot {what}',
                        details={},
                    )
                )
        return await super()._handle(request)
