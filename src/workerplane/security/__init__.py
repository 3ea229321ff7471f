"""Secrets handling for the control plane: API tokens, encryption at rest, redaction."""

from workerplane.security.crypto import SecretBox, load_secret_box
from workerplane.security.redact import REDACTED, SecretScrubFilter, install_log_scrubber
from workerplane.security.tokens import generate_token, hash_token

__all__ = [
    "REDACTED",
    "SecretBox",
    "SecretScrubFilter",
    "generate_token",
    "hash_token",
    "install_log_scrubber",
    "load_secret_box",
]
