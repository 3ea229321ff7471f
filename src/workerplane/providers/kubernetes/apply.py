"""Apply a managed group's rendered objects to the cluster, and delete them again.

Idempotent: each object records what was applied (``workerplane.dev/last-applied``, or only a hash
for a Secret), so an unchanged spec sends no write, and a changed one sends the merge patch from
the last applied state. An object owned by anything else is never touched. A failed apply undoes
what it did: objects it created are deleted, objects it patched get the reverse patch.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from workerplane.providers.base import ProviderError
from workerplane.providers.kubernetes.api import KubeApi, KubeApiError, ObjectRef
from workerplane.providers.kubernetes.names import ANN_LAST_APPLIED, ANN_OWNER, ANN_SPEC_HASH
from workerplane.providers.kubernetes.render import (
    ManagedObjects,
    Rendered,
    merge_patch,
    spec_hash,
)

log = logging.getLogger("workerplane.providers.kubernetes.provider")


def annotations_of(obj: dict[str, Any]) -> dict[str, str]:
    return dict((obj.get("metadata") or {}).get("annotations") or {})


def foreign_owner(ref: ObjectRef, live: dict[str, Any]) -> str:
    """Why workerplane refuses to take over ``live``, an object someone else owns."""
    owner = annotations_of(live).get(ANN_OWNER)
    who = f"workerplane group {owner!r}" if owner else "something other than workerplane"
    return (
        f"deployment: {ref} already exists and is managed by {who}; "
        "refusing to take it over (remove the managed block to scale it as user-owned)"
    )


def _deep_merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    out = dict(a)
    for key, value in b.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _applied_view(obj: Rendered) -> dict[str, Any]:
    """What we record as last-applied: the body minus the size (the controller owns replicas)."""
    body: dict[str, Any] = json.loads(json.dumps(obj.body))
    if obj.kind == "Deployment":
        body["spec"].pop("replicas", None)
    return body


class ObjectApplier:
    """Applies and deletes the objects of the group that ``owner`` names."""

    def __init__(self, api: KubeApi, owner: str) -> None:
        self.api = api
        self.owner = owner

    async def apply(self, objects: ManagedObjects) -> None:
        """Create or update every object; on failure undo what this call did, then raise.

        An unchanged spec sends no write at all; a changed spec patches the pod template (which
        rolls the pods) but never the replica count, which stays the controller's.
        """
        created: list[tuple[ObjectRef, bool]] = []
        patched: list[tuple[ObjectRef, dict[str, Any], bool]] = []
        try:
            for obj in objects.objects:
                ref = ObjectRef(obj.kind, objects.namespace, obj.name)
                live = await self.api.get(ref)
                if live is None:
                    try:
                        await self.api.create(ref, self._with_record(obj), secret=obj.secret)
                        created.append((ref, obj.secret))
                        log.info("k8s: created %s", ref)
                        continue
                    except KubeApiError as exc:
                        if exc.kind != "exists":
                            raise
                        live = await self.api.get(ref)
                        if live is None:
                            raise
                undo = await self._update(ref, obj, live)
                if undo is not None:
                    patched.append((ref, undo, obj.secret))
        except Exception:
            await self._rollback(created, patched)
            raise

    def _with_record(self, obj: Rendered) -> dict[str, Any]:
        """The body plus the record of what we applied (a hash only, for Secrets)."""
        record = (
            {ANN_SPEC_HASH: spec_hash(obj.body)}
            if obj.secret
            else {ANN_LAST_APPLIED: json.dumps(_applied_view(obj), sort_keys=True)}
        )
        return _deep_merge(obj.body, {"metadata": {"annotations": record}})

    async def _update(
        self, ref: ObjectRef, obj: Rendered, live: dict[str, Any]
    ) -> dict[str, Any] | None:
        """Bring ``live`` to ``obj``; returns the undo patch, or None if nothing changed."""
        annotations = annotations_of(live)
        if annotations.get(ANN_OWNER) != self.owner:
            raise ProviderError(foreign_owner(ref, live), kind="invalid", retryable=False)
        if obj.secret:
            digest = spec_hash(obj.body)
            if annotations.get(ANN_SPEC_HASH) == digest:
                return None
            stale = (set(live.get("data") or {}) | set(live.get("stringData") or {})) - set(
                obj.body.get("stringData") or {}
            )
            body = _deep_merge(
                self._with_record(obj), {"data": {k: None for k in stale}} if stale else {}
            )
            await self.api.patch(ref, body, secret=True)
            log.info("k8s: updated %s", ref)
            # Secret values are not kept anywhere to restore; a failed apply leaves the new ones.
            return {}
        desired = _applied_view(obj)
        raw_last = annotations.get(ANN_LAST_APPLIED)
        try:
            last = json.loads(raw_last) if raw_last else {}
        except ValueError:
            last = {}
        if last == desired:
            return None
        patch = _deep_merge(
            merge_patch(last, desired),
            {"metadata": {"annotations": {ANN_LAST_APPLIED: json.dumps(desired, sort_keys=True)}}},
        )
        await self.api.patch(ref, patch)
        log.info("k8s: updated %s", ref)
        undo = _deep_merge(
            merge_patch(desired, last) if last else {},
            {"metadata": {"annotations": {ANN_LAST_APPLIED: raw_last}}},
        )
        return undo

    async def _rollback(
        self,
        created: list[tuple[ObjectRef, bool]],
        patched: list[tuple[ObjectRef, dict[str, Any], bool]],
    ) -> None:
        for ref, undo, secret in reversed(patched):
            if not undo:
                continue
            try:
                await self.api.patch(ref, undo, secret=secret)
                log.warning("k8s: rolled back %s", ref)
            except ProviderError as exc:
                log.error("k8s: could not roll back %s: %s", ref, exc)
        for ref, _secret in reversed(created):
            try:
                await self.api.delete(ref)
                log.warning("k8s: removed %s after a failed apply", ref)
            except ProviderError as exc:
                log.error("k8s: could not remove %s after a failed apply: %s", ref, exc)

    async def delete(self, objects: ManagedObjects) -> list[ObjectRef]:
        """Remove every one of ``objects`` this group owns; returns what was deleted.

        Objects are found by name and deleted only if they carry our owner annotation; deletion
        goes in reverse apply order (PDB and Deployment first).
        """
        deleted: list[ObjectRef] = []
        for obj in reversed(objects.objects):
            ref = ObjectRef(obj.kind, objects.namespace, obj.name)
            live = await self.api.get(ref)
            if live is None or annotations_of(live).get(ANN_OWNER) != self.owner:
                continue
            if await self.api.delete(ref):
                deleted.append(ref)
                log.info("k8s: deleted %s", ref)
        return deleted
