"""The store's view of spec secrets: stored documents are sealed, and read back opened or redacted.

Which values are secret is the models' business (:mod:`workerplane.config.secrets`); these
functions only adapt it to the documents the store keeps (JSON dicts, sealed with its key).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from workerplane.config.model import DeploymentSpec
from workerplane.config.secrets import keep_redacted, open_spec, public_spec, reveal_spec, seal_spec
from workerplane.security.crypto import SecretBox


def spec_to_plain(spec: DeploymentSpec) -> dict[str, Any]:
    """A JSON-able dict of ``spec`` with secret values revealed (for sealing, never for output)."""
    return reveal_spec(spec)


def seal_document(
    box: SecretBox, spec: DeploymentSpec, previous: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The stored form of a spec: its secrets encrypted.

    Args:
        previous: the stored (sealed) document this one replaces; a secret a client sent back as
            ``REDACTED`` keeps the stored value.
    """
    if previous is not None:
        spec = keep_redacted(spec, open_spec(previous, box))
    return seal_spec(spec, box)


def open_doc(box: SecretBox, sealed: Mapping[str, Any]) -> dict[str, Any]:
    """A stored document with its secrets decrypted (for the controller only)."""
    return reveal_spec(open_spec(sealed, box))


def redact_doc(sealed: Mapping[str, Any]) -> dict[str, Any]:
    """A stored document with every secret replaced by ``REDACTED`` (for API responses)."""
    return public_spec(DeploymentSpec.model_validate(sealed))
