"""The one secret field type: a ``SecretStr`` whose serialization the caller picks by context.

Every secret in a spec (the Temporal API key, inline TLS data, each provider's secret details
keys, ``secret_env`` values) is typed :data:`Secret`. What a JSON dump writes for it depends on
the pydantic serialization context, so no one keeps a list of secret paths:

* no context (any API or CLI output): :data:`~workerplane.security.redact.REDACTED`;
* :func:`reveal_context`: the plain value (for the controller and the providers);
* :func:`seal_context`: the value encrypted with the given :class:`SecretCipher` (for storage).

Validating with :func:`open_context` decrypts sealed values. Every value revealed, sealed or
opened is registered with the log scrubber, so it never reaches a log line.

Python-mode dumps keep the :class:`~pydantic.SecretStr` objects (a caller can find the secrets of
a dump by type, as :func:`workerplane.config.secrets.keep_redacted` does).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Protocol

from pydantic import BeforeValidator, PlainSerializer, SecretStr, SerializationInfo, ValidationInfo

from workerplane.security.redact import REDACTED, register_secret

__all__ = [
    "REDACTED",
    "Secret",
    "SecretCipher",
    "open_context",
    "reveal_context",
    "seal_context",
]

SecretMode = Literal["reveal", "seal", "open"]


class SecretCipher(Protocol):
    """Encrypts secrets for storage (``security.crypto.SecretBox`` is one)."""

    def encrypt(self, plaintext: str) -> str: ...

    def decrypt(self, token: str) -> str: ...


def reveal_context() -> dict[str, Any]:
    """Serialization context that writes secrets in clear."""
    return {"secrets": "reveal"}


def seal_context(cipher: SecretCipher) -> dict[str, Any]:
    """Serialization context that writes secrets encrypted with ``cipher``."""
    return {"secrets": "seal", "cipher": cipher}


def open_context(cipher: SecretCipher) -> dict[str, Any]:
    """Validation context that decrypts sealed secrets with ``cipher``."""
    return {"secrets": "open", "cipher": cipher}


def _mode(context: Any) -> tuple[str | None, SecretCipher | None]:
    if not isinstance(context, dict):
        return None, None
    return context.get("secrets"), context.get("cipher")


def _open(value: Any, info: ValidationInfo) -> Any:
    mode, cipher = _mode(info.context)
    if mode == "open" and cipher is not None and isinstance(value, str) and value:
        value = cipher.decrypt(value)
        register_secret(value)
    return value


def _serialize(value: SecretStr, info: SerializationInfo) -> str:
    mode, cipher = _mode(info.context)
    plain = value.get_secret_value()
    if mode == "reveal":
        register_secret(plain)
        return plain
    if mode == "seal" and cipher is not None:
        if not plain:
            return plain
        register_secret(plain)
        return cipher.encrypt(plain)
    return REDACTED


#: A secret string: redacted in JSON output unless the serialization context says otherwise.
Secret = Annotated[
    SecretStr,
    BeforeValidator(_open),
    PlainSerializer(_serialize, return_type=str, when_used="json"),
]
