"""A deployment spec with its secrets sealed (storage), opened (controller) or redacted (output).

Which values are secret comes from the models alone: every field typed
:data:`~workerplane.config.secret_field.Secret`, in the spec itself (the Temporal API key, inline
TLS data) and in each group's provider details, read through the provider registry's typed model.
No list of secret paths is kept anywhere, so a new secret field is sealed and redacted as soon as
it is typed ``Secret``.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import SecretStr, TypeAdapter

from workerplane.config.model import DeploymentSpec
from workerplane.config.secret_field import (
    REDACTED,
    Secret,
    SecretCipher,
    open_context,
    reveal_context,
    seal_context,
)
from workerplane.providers.registry import PROVIDER_TYPES

Path = tuple[str | int, ...]

_SECRET: TypeAdapter[SecretStr] = TypeAdapter(Secret)


def _leaves(value: Any, path: Path = ()) -> Iterator[tuple[Path, SecretStr]]:
    """Every ``SecretStr`` in a python-mode dump, with its path."""
    if isinstance(value, SecretStr):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, (*path, key))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _leaves(item, (*path, index))


_DETAILS_ROOT: Path = ("compute", "scaling_groups")


def _details_path(group_id: str) -> Path:
    return (*_DETAILS_ROOT, group_id, "provider", "details")


def details_secret_paths(
    provider_type: str, details: Mapping[str, Any], context: dict[str, Any] | None = None
) -> list[tuple[Path, SecretStr]]:
    """The secrets set in a group's ``provider.details`` (paths inside the details), read through
    the type's model; an unknown type has none.

    Raises:
        pydantic.ValidationError: the details break the type's model.
    """
    ptype = PROVIDER_TYPES.get(provider_type)
    if ptype is None or not details:
        return []
    model = ptype.details_model.model_validate(dict(details), context=context)
    return list(_leaves(model.model_dump(exclude_unset=True)))


def _secrets(
    doc: Mapping[str, Any], context: dict[str, Any] | None = None
) -> list[tuple[Path, SecretStr]]:
    """The secrets of a spec document: its own, and its groups' provider details' (validated with
    ``context`` by the provider type's model; unknown types have none)."""
    found = list(_leaves(DeploymentSpec.model_validate(doc, context=context).model_dump()))
    groups = (doc.get("compute") or {}).get("scaling_groups") or {}
    for group_id, group in groups.items():
        provider = group.get("provider") or {}
        details = provider.get("details") or {}
        for path, value in details_secret_paths(provider.get("type", ""), details, context):
            found.append(((*_details_path(group_id), *path), value))
    return found


def _set(doc: dict[str, Any], path: Path, value: Any) -> None:
    holder: Any = doc
    for key in path[:-1]:
        holder = holder[key]
    holder[path[-1]] = value


def _get(doc: Any, path: Path) -> Any:
    """The value at ``path``, or ``None`` where ``doc`` has none."""
    for key in path:
        try:
            doc = doc[key]
        except (KeyError, IndexError, TypeError):
            return None
    return doc


def _plain_document(spec: DeploymentSpec, *, exclude_defaults: bool = False) -> dict[str, Any]:
    return spec.model_dump(mode="json", context=reveal_context(), exclude_defaults=exclude_defaults)


def _document(
    spec: DeploymentSpec, context: dict[str, Any] | None, *, exclude_defaults: bool = False
) -> dict[str, Any]:
    """``spec`` as JSON, each secret written as ``context`` says (``None``: redacted)."""
    doc = _plain_document(spec, exclude_defaults=exclude_defaults)
    for path, value in _secrets(doc):
        _set(doc, path, _SECRET.dump_python(value, mode="json", context=context))
    return doc


def reveal_spec(spec: DeploymentSpec, *, exclude_defaults: bool = False) -> dict[str, Any]:
    """``spec`` as JSON with every secret in clear (for a file the user asked to export)."""
    return _plain_document(spec, exclude_defaults=exclude_defaults)


def public_spec(spec: DeploymentSpec, *, exclude_defaults: bool = False) -> dict[str, Any]:
    """``spec`` as JSON with every secret replaced by :data:`REDACTED` (API and CLI output)."""
    return _document(spec, None, exclude_defaults=exclude_defaults)


def seal_spec(spec: DeploymentSpec, cipher: SecretCipher) -> dict[str, Any]:
    """``spec`` as JSON with every secret encrypted by ``cipher`` (for storage)."""
    return _document(spec, seal_context(cipher))


def open_spec(doc: Mapping[str, Any], cipher: SecretCipher) -> DeploymentSpec:
    """The spec a :func:`seal_spec` document holds, its secrets decrypted."""
    context = open_context(cipher)
    opened = copy.deepcopy(dict(doc))
    for path, value in _secrets(doc, context):
        if path[: len(_DETAILS_ROOT)] == _DETAILS_ROOT:
            # The spec's own secrets are decrypted by validating it with ``context`` below.
            _set(opened, path, value.get_secret_value())
    return DeploymentSpec.model_validate(opened, context=context)


def keep_redacted(new: DeploymentSpec, previous: DeploymentSpec) -> DeploymentSpec:
    """``new``, where a secret a client sent back as :data:`REDACTED` keeps ``previous``'s value.

    A client that read a spec (secrets redacted) and sends it back changed no secret it did not
    retype.
    """
    doc = _plain_document(new)
    before = _plain_document(previous)
    kept = False
    for path, value in _secrets(doc):
        old = _get(before, path)
        if value.get_secret_value() == REDACTED and isinstance(old, str):
            _set(doc, path, old)
            kept = True
    return DeploymentSpec.model_validate(doc) if kept else new
