"""How a :class:`DeploymentSpec` is kept in the store: canonical JSON with its secrets sealed.

The one place the store meets :mod:`workerplane.config.secrets`; everything else reads and writes
typed specs through here. Which values are secret is decided by the models alone.
"""

from __future__ import annotations

import json

from workerplane.config import secrets
from workerplane.config.model import DeploymentSpec
from workerplane.security.crypto import SecretBox


def seal(box: SecretBox, spec: DeploymentSpec, previous: str | None = None) -> str:
    """The stored text of ``spec``. A secret sent back redacted keeps the value sealed in
    ``previous`` (the stored text this one replaces)."""
    if previous is not None:
        spec = secrets.keep_redacted(spec, open_spec(box, previous))
    return json.dumps(secrets.seal_spec(spec, box), sort_keys=True)


def open_spec(box: SecretBox, stored: str) -> DeploymentSpec:
    """The spec with its secrets decrypted: for the controller and provider checks only."""
    return secrets.open_spec(json.loads(stored), box)


def redacted_spec(stored: str) -> DeploymentSpec:
    """The spec as stored, its secrets still sealed: safe to show through :func:`public_spec`,
    never to hand to a provider."""
    return DeploymentSpec.model_validate(json.loads(stored))


def public_spec(spec: DeploymentSpec) -> dict[str, object]:
    """A JSON-able dict of ``spec`` with every secret redacted, as responses show it."""
    return secrets.public_spec(spec)
