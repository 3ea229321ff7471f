"""Which parts of a deployment spec are secret, and how they are sealed, opened and redacted.

At write time we know which values are secret: provider details keys declared secret by the
provider type (or named like a secret), ``env`` entries named like a secret or declared secret by
an endpoint's ``secret_env``, and the Temporal API key / inline TLS data. Those values are replaced
by AES-GCM ciphertexts (``wpenc:v1:...``). Reading is then generic: every ciphertext found
anywhere in the document is decrypted for the controller, or replaced by ``***REDACTED***`` for
API responses.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import SecretStr

from workerplane.config.model import DeploymentSpec
from workerplane.security.crypto import PREFIX, SecretBox
from workerplane.security.redact import REDACTED, looks_secret, register_secret, secret_keys

_TEMPORAL_SECRETS = ("api_key",)
_TLS_SECRETS = ("client_cert_data", "client_key_data", "server_ca_cert_data")


def spec_to_plain(spec: DeploymentSpec) -> dict[str, Any]:
    """A JSON-able dict of ``spec`` with secret values revealed (for sealing, never for output)."""

    def reveal(value: Any) -> Any:
        if isinstance(value, SecretStr):
            return value.get_secret_value()
        if isinstance(value, dict):
            return {k: reveal(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [reveal(v) for v in value]
        return value

    result: dict[str, Any] = reveal(spec.model_dump(mode="python"))
    return result


def _seal_value(box: SecretBox, value: Any, previous: Any) -> Any:
    """Encrypt one secret value. ``REDACTED`` sent back by a client means "keep what is stored"."""
    if value == REDACTED and isinstance(previous, str) and previous.startswith(PREFIX):
        return previous
    if isinstance(value, str) and value and not value.startswith(PREFIX):
        register_secret(value)
        return box.encrypt(value)
    return value


def seal_spec(
    box: SecretBox,
    plain: dict[str, Any],
    previous: Mapping[str, Any] | None = None,
    extra_secret_env: Iterable[str] = (),
) -> dict[str, Any]:
    """Encrypt the secret values of a plain spec dict (returns a new dict).

    Args:
        previous: the stored (sealed) document this one replaces, so that ``REDACTED`` values
            sent back by a client keep the stored secret.
        extra_secret_env: ``env`` keys to treat as secret in every group (an endpoint's
            ``secret_env``).
    """
    previous = previous or {}
    secret_env = set(extra_secret_env)
    doc = dict(plain)
    temporal = dict(doc.get("temporal") or {})
    prev_temporal = previous.get("temporal") or {}
    for key in _TEMPORAL_SECRETS:
        if temporal.get(key) is not None:
            temporal[key] = _seal_value(box, temporal[key], prev_temporal.get(key))
    tls = temporal.get("tls")
    if isinstance(tls, dict):
        tls = dict(tls)
        prev_tls = prev_temporal.get("tls") if isinstance(prev_temporal.get("tls"), dict) else {}
        for key in _TLS_SECRETS:
            if tls.get(key) is not None:
                tls[key] = _seal_value(box, tls[key], prev_tls.get(key))
        temporal["tls"] = tls
    doc["temporal"] = temporal
    compute = dict(doc.get("compute") or {})
    groups = dict(compute.get("scaling_groups") or {})
    prev_groups = (previous.get("compute") or {}).get("scaling_groups") or {}
    for gid, group in groups.items():
        group = dict(group)
        provider = dict(group.get("provider") or {})
        details = dict(provider.get("details") or {})
        prev_details = ((prev_groups.get(gid) or {}).get("provider") or {}).get("details") or {}
        for key in secret_keys(str(provider.get("type", "")), details):
            details[key] = _seal_value(box, details[key], prev_details.get(key))
        details = _seal_env(box, details, prev_details, secret_env)
        managed = details.get("managed")
        if isinstance(managed, dict):
            prev_managed = prev_details.get("managed")
            details["managed"] = _seal_env(
                box,
                dict(managed),
                prev_managed if isinstance(prev_managed, dict) else {},
                secret_env,
            )
        provider["details"] = details
        group["provider"] = provider
        groups[gid] = group
    compute["scaling_groups"] = groups
    doc["compute"] = compute
    return doc


def _seal_env(
    box: SecretBox, holder: dict[str, Any], previous: Mapping[str, Any], secret_env: set[str]
) -> dict[str, Any]:
    """Seal the secret entries of ``holder["env"]`` (if any)."""
    env = holder.get("env")
    if isinstance(env, dict):
        prev_env = previous.get("env") if isinstance(previous.get("env"), dict) else {}
        holder["env"] = {
            k: (_seal_value(box, v, prev_env.get(k)) if k in secret_env or looks_secret(k) else v)
            for k, v in env.items()
        }
    return holder


def _walk(value: Any, leaf: Any) -> Any:
    if isinstance(value, dict):
        return {k: _walk(v, leaf) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(v, leaf) for v in value]
    if isinstance(value, str) and value.startswith(PREFIX):
        return leaf(value)
    return value


def open_doc(box: SecretBox, sealed: Any) -> Any:
    """Decrypt every ciphertext in a sealed document (for the controller only)."""

    def decrypt(token: str) -> str:
        plain = box.decrypt(token)
        register_secret(plain)
        return plain

    return _walk(sealed, decrypt)


def redact_doc(sealed: Any) -> Any:
    """Replace every ciphertext in a sealed document by ``REDACTED`` (for API responses)."""
    return _walk(sealed, lambda _token: REDACTED)


def contains_ciphertext_marker(value: Any) -> bool:
    """Whether a client-supplied document contains a string that looks like our ciphertext."""
    if isinstance(value, dict):
        return any(contains_ciphertext_marker(v) for v in value.values())
    if isinstance(value, list):
        return any(contains_ciphertext_marker(v) for v in value)
    return isinstance(value, str) and value.startswith(PREFIX)


def restore_redacted(plain: Any, sealed_previous: Any, box: SecretBox) -> Any:
    """Where a client sent ``REDACTED`` back at a path that holds a stored secret, put the stored
    plaintext in (so validation sees the real value). Other values are left alone."""
    if isinstance(plain, dict) and isinstance(sealed_previous, dict):
        return {k: restore_redacted(v, sealed_previous.get(k), box) for k, v in plain.items()}
    if isinstance(plain, list) and isinstance(sealed_previous, list):
        return [
            restore_redacted(v, sealed_previous[i] if i < len(sealed_previous) else None, box)
            for i, v in enumerate(plain)
        ]
    if (
        plain == REDACTED
        and isinstance(sealed_previous, str)
        and sealed_previous.startswith(PREFIX)
    ):
        return box.decrypt(sealed_previous)
    return plain
