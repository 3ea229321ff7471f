"""How a :class:`DeploymentSpec` is kept in the store: sealed (secrets encrypted) canonical JSON.

The one place the store meets the secrets functions; everything else reads and writes typed
specs through here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from workerplane.config.model import DeploymentSpec
from workerplane.security.crypto import PREFIX as CIPHERTEXT_PREFIX
from workerplane.security.crypto import SecretBox
from workerplane.store.secrets import open_doc, redact_doc, seal_spec, spec_to_plain


def seal(
    box: SecretBox,
    spec: DeploymentSpec,
    previous: str | None = None,
    extra_secret_env: Iterable[str] = (),
) -> str:
    """The stored text of ``spec``. ``REDACTED`` values keep the secret sealed in ``previous``;
    ``extra_secret_env`` names env entries to seal besides those that look secret."""
    before = json.loads(previous) if previous is not None else None
    return json.dumps(seal_spec(box, spec_to_plain(spec), before, extra_secret_env), sort_keys=True)


def open_spec(box: SecretBox, stored: str) -> DeploymentSpec:
    """The spec with its secrets decrypted: for the controller and provider checks only."""
    return DeploymentSpec.model_validate(open_doc(box, json.loads(stored)))


def redacted_spec(stored: str) -> DeploymentSpec:
    """The spec with every secret replaced by ``REDACTED``: what the API shows."""
    doc = json.loads(stored)
    # Most specs hold no ciphertext; walking the document only matters when one does.
    return DeploymentSpec.model_validate(redact_doc(doc) if CIPHERTEXT_PREFIX in stored else doc)


def public_spec(spec: DeploymentSpec) -> dict[str, Any]:
    """A JSON-able dict of a redacted spec (from :func:`redacted_spec`), as responses show it."""
    return spec_to_plain(spec)
