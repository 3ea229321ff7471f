"""How a :class:`DeploymentSpec` is kept in the store: canonical JSON with its secrets sealed.

The one place the store meets :mod:`workerplane.config.secrets`; everything else reads and writes
typed specs through here. Which values are secret is decided by the models alone.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from pydantic import ValidationError

from workerplane.config import secrets
from workerplane.config.model import DeploymentSpec
from workerplane.security.crypto import DecryptionError, SecretBox


def seal(box: SecretBox, spec: DeploymentSpec, previous: str | None = None) -> str:
    """The stored text of ``spec``. A secret sent back redacted keeps the value sealed in
    ``previous`` (the stored text this one replaces)."""
    if previous is not None:
        spec = secrets.keep_redacted(spec, open_spec(box, previous))
    return json.dumps(secrets.seal_spec(spec, box), sort_keys=True)


def open_spec(box: SecretBox, stored: str) -> DeploymentSpec:
    """The spec with its secrets decrypted: for the controller and provider checks only.

    Raises :class:`~workerplane.security.crypto.DecryptionError` (its own message, naming the
    key id) when a secret cannot be opened, rather than the validation error pydantic wraps it in,
    which would quote the ciphertext.
    """
    try:
        return secrets.open_spec(json.loads(stored), box)
    except ValidationError as err:
        for issue in err.errors():
            cause = (issue.get("ctx") or {}).get("error")
            if isinstance(cause, DecryptionError):
                raise cause from None
        raise


def _sealed_values(doc: Any) -> Iterator[str]:
    """Every sealed string in a stored document (API input may not look sealed, so these are
    exactly its secrets)."""
    if SecretBox.is_encrypted(doc):
        yield doc
    elif isinstance(doc, dict):
        for item in doc.values():
            yield from _sealed_values(item)
    elif isinstance(doc, list):
        for item in doc:
            yield from _sealed_values(item)


def reseal(box: SecretBox, stored: str) -> str | None:
    """``stored`` with every secret sealed by the primary key, or ``None`` when it already is.

    Raises :class:`~workerplane.security.crypto.DecryptionError` when a secret needs a key the
    box does not have.
    """
    if all(box.is_current(value) for value in _sealed_values(json.loads(stored))):
        return None
    return seal(box, open_spec(box, stored))


def redacted_spec(stored: str) -> DeploymentSpec:
    """The spec as stored, its secrets still sealed: safe to show through :func:`public_spec`,
    never to hand to a provider."""
    return DeploymentSpec.model_validate(json.loads(stored))


def public_spec(spec: DeploymentSpec) -> dict[str, object]:
    """A JSON-able dict of ``spec`` with every secret redacted, as responses show it."""
    return secrets.public_spec(spec)
