"""Encryption at rest for secret provider details (AES-256-GCM).

The key is 32 bytes, given base64-encoded in ``WORKERPLANE_ENCRYPTION_KEY`` or in a file named by
``WORKERPLANE_ENCRYPTION_KEY_FILE``. Each value gets a fresh 96-bit nonce. The ciphertext is stored
as ``wpenc:v1:<base64(nonce || ciphertext+tag)>`` so encrypted values are recognisable and a later
key rotation can add ``v2`` without guessing.
"""

from __future__ import annotations

import base64
import binascii
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_ENV = "WORKERPLANE_ENCRYPTION_KEY"
KEY_FILE_ENV = "WORKERPLANE_ENCRYPTION_KEY_FILE"
PREFIX = "wpenc:v1:"
#: Associated data binds ciphertexts to workerplane, so they cannot be replayed into other systems.
_AAD = b"workerplane-secret-v1"


class EncryptionKeyError(ValueError):
    """The encryption key is missing or malformed."""


class DecryptionError(ValueError):
    """A stored value could not be decrypted (wrong key or tampered data)."""


def generate_key() -> str:
    """A new random key, base64-encoded, suitable for ``WORKERPLANE_ENCRYPTION_KEY``."""
    return base64.b64encode(AESGCM.generate_key(bit_length=256)).decode("ascii")


def _decode_key(text: str, origin: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise EncryptionKeyError(f"{origin}: the key must be 32 bytes, base64-encoded") from None
    if len(key) != 32:
        raise EncryptionKeyError(
            f"{origin}: the key must be 32 bytes, base64-encoded (got {len(key)})"
        )
    return key


class SecretBox:
    """Encrypts and decrypts short secret strings with one AES-256-GCM key."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise EncryptionKeyError("the encryption key must be 32 bytes")
        self._aead = AESGCM(key)

    @staticmethod
    def is_encrypted(value: object) -> bool:
        return isinstance(value, str) and value.startswith(PREFIX)

    def encrypt(self, plaintext: str) -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, plaintext.encode("utf-8"), _AAD)
        return PREFIX + base64.b64encode(nonce + sealed).decode("ascii")

    def decrypt(self, token: str) -> str:
        if not self.is_encrypted(token):
            raise DecryptionError("value is not an encrypted workerplane secret")
        try:
            raw = base64.b64decode(token[len(PREFIX) :], validate=True)
            return self._aead.decrypt(raw[:12], raw[12:], _AAD).decode("utf-8")
        except (binascii.Error, ValueError, InvalidTag):
            raise DecryptionError(
                "cannot decrypt a stored secret: wrong WORKERPLANE_ENCRYPTION_KEY or tampered data"
            ) from None


def load_secret_box(
    *, key: str | None = None, key_file: Path | None = None, state_dir: Path | None = None
) -> SecretBox:
    """Find the key: explicit value, explicit file, the env vars, else a generated local key file.

    The last fallback (``state_dir/encryption.key``, mode 0600) keeps the embedded single-machine
    default working out of the box; a service deployment should set the env var or file.
    """
    if key:
        return SecretBox(_decode_key(key, "encryption key"))
    if key_file:
        return SecretBox(_decode_key(key_file.read_text(), str(key_file)))
    env_key = os.environ.get(KEY_ENV)
    if env_key:
        return SecretBox(_decode_key(env_key, KEY_ENV))
    env_file = os.environ.get(KEY_FILE_ENV)
    if env_file:
        return SecretBox(_decode_key(Path(env_file).read_text(), KEY_FILE_ENV))
    if state_dir is None:
        raise EncryptionKeyError(f"no encryption key: set {KEY_ENV} or {KEY_FILE_ENV}")
    path = state_dir / "encryption.key"
    if not path.exists():
        state_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(generate_key())
    return SecretBox(_decode_key(path.read_text(), str(path)))
