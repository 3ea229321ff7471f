"""Encryption at rest for secret provider details (AES-256-GCM), with key rotation.

A key is 32 bytes, given base64-encoded. The primary key (``WORKERPLANE_ENCRYPTION_KEY``, or a file
named by ``WORKERPLANE_ENCRYPTION_KEY_FILE``) seals every new value; previous keys
(``WORKERPLANE_ENCRYPTION_PREVIOUS_KEYS``, comma-separated, or a file named by
``WORKERPLANE_ENCRYPTION_PREVIOUS_KEYS_FILE``, one or more per line) only open what they sealed.

Each value gets a fresh 96-bit nonce and is stored as
``wpenc:v2:<key id>:<base64(nonce || ciphertext+tag)>``. The key id is derived from the key (see
:func:`key_id`), so operators never name keys and a value says which key it needs. Values sealed
before rotation existed (``wpenc:v1:<base64>``, no key id) are opened with whichever configured
key fits: that is the :data:`LEGACY_KEY_ID` format, re-sealed by ``workerplane keys rotate``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_ENV = "WORKERPLANE_ENCRYPTION_KEY"
KEY_FILE_ENV = "WORKERPLANE_ENCRYPTION_KEY_FILE"
PREVIOUS_KEYS_ENV = "WORKERPLANE_ENCRYPTION_PREVIOUS_KEYS"
PREVIOUS_KEYS_FILE_ENV = "WORKERPLANE_ENCRYPTION_PREVIOUS_KEYS_FILE"

#: Every sealed value starts with this; API input may not (it would pass for a sealed secret).
SEALED_PREFIX = "wpenc:"
_V1 = SEALED_PREFIX + "v1:"
_V2 = SEALED_PREFIX + "v2:"
#: The key id reported for ``wpenc:v1:`` values, which name no key.
LEGACY_KEY_ID = "legacy-v1"
#: Associated data binds ciphertexts to workerplane (and, in v2, to their key id), so they cannot
#: be replayed into other systems or relabelled with another key id.
_AAD_V1 = b"workerplane-secret-v1"
_AAD_V2 = b"workerplane-secret-v2:"
#: The label the MAC key is derived under (see :meth:`SecretBox.macs`).
_MAC_KEY_LABEL = b"workerplane-mac-key-v1"


class EncryptionKeyError(ValueError):
    """The encryption key is missing or malformed."""


class DecryptionError(ValueError):
    """A stored value could not be decrypted (wrong key or tampered data)."""


class UnknownKeyError(DecryptionError):
    """A stored value was sealed with a key this process was not given."""

    def __init__(self, key_id: str, configured: Sequence[str]) -> None:
        self.key_id = key_id
        if key_id == LEGACY_KEY_ID:
            what = "in the legacy format (wpenc:v1, no key id), and no configured key opens it"
        else:
            what = f"with encryption key '{key_id}', which is not configured"
        super().__init__(
            f"a stored secret is sealed {what} (configured keys: {', '.join(configured)}); give"
            f" the key that sealed it in {PREVIOUS_KEYS_ENV} (or {PREVIOUS_KEYS_FILE_ENV}), then"
            " run `workerplane keys rotate` to re-seal it with the primary key"
        )


def generate_key() -> str:
    """A new random key, base64-encoded, suitable for ``WORKERPLANE_ENCRYPTION_KEY``."""
    return base64.b64encode(AESGCM.generate_key(bit_length=256)).decode("ascii")


def key_id(key: bytes) -> str:
    """The public id of ``key``: 16 hex digits of a domain-separated SHA-256, safe to show."""
    return hashlib.sha256(b"workerplane-key-id:" + key).hexdigest()[:16]


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


def _decode_keys(text: str, origin: str) -> list[bytes]:
    """Keys separated by commas or newlines (blank entries ignored)."""
    items = text.replace("\n", ",").split(",")
    return [
        _decode_key(item, f"{origin} (key {n})") for n, item in enumerate(items, 1) if item.strip()
    ]


class SecretBox:
    """Seals short secret strings with the primary key; opens them with any configured key."""

    def __init__(self, key: bytes, previous: Iterable[bytes] = ()) -> None:
        keys: dict[str, AESGCM] = {}
        mac_keys: dict[str, bytes] = {}
        for one in (key, *previous):
            if len(one) != 32:
                raise EncryptionKeyError("an encryption key must be 32 bytes")
            keys.setdefault(key_id(one), AESGCM(one))
            mac_keys.setdefault(key_id(one), hmac.digest(one, _MAC_KEY_LABEL, "sha256"))
        self._keys: Mapping[str, AESGCM] = keys
        self._mac_keys = tuple(mac_keys.values())
        self.primary_key_id = key_id(key)

    @property
    def key_ids(self) -> tuple[str, ...]:
        """The configured key ids, primary first."""
        return tuple(self._keys)

    @staticmethod
    def is_encrypted(value: object) -> bool:
        return isinstance(value, str) and value.startswith(SEALED_PREFIX)

    @staticmethod
    def key_id_of(token: str) -> str:
        """The id of the key that sealed ``token`` (:data:`LEGACY_KEY_ID` for ``wpenc:v1:``)."""
        if token.startswith(_V2):
            return token[len(_V2) :].partition(":")[0]
        if token.startswith(_V1):
            return LEGACY_KEY_ID
        raise DecryptionError("value is not an encrypted workerplane secret")

    def is_current(self, token: str) -> bool:
        """Whether ``token`` is sealed with the primary key (nothing for rotation to do)."""
        return self.key_id_of(token) == self.primary_key_id

    def macs(self, message: bytes) -> tuple[bytes, ...]:
        """HMAC-SHA256 of ``message`` under each key (primary first), for values that must be
        recomputed rather than stored (workers' report tokens). The MAC key is derived from
        the encryption key under its own label, so neither use can stand for the other."""
        return tuple(hmac.digest(k, message, "sha256") for k in self._mac_keys)

    def encrypt(self, plaintext: str) -> str:
        nonce = os.urandom(12)
        kid = self.primary_key_id
        sealed = self._keys[kid].encrypt(nonce, plaintext.encode("utf-8"), _AAD_V2 + kid.encode())
        return f"{_V2}{kid}:" + base64.b64encode(nonce + sealed).decode("ascii")

    def decrypt(self, token: str) -> str:
        kid = self.key_id_of(token)
        if kid == LEGACY_KEY_ID:
            raw = _raw(token[len(_V1) :])
            for candidate in self._keys.values():
                opened = _open(candidate, raw, _AAD_V1)
                if opened is not None:
                    return opened
            raise UnknownKeyError(LEGACY_KEY_ID, self.key_ids)
        aead = self._keys.get(kid)
        if aead is None:
            raise UnknownKeyError(kid, self.key_ids)
        opened = _open(aead, _raw(token[len(_V2) + len(kid) + 1 :]), _AAD_V2 + kid.encode())
        if opened is None:
            raise DecryptionError(
                f"cannot decrypt a stored secret sealed with key '{kid}': tampered data"
            )
        return opened


def _raw(text: str) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise DecryptionError("a stored secret is not valid base64: tampered data") from None
    if len(raw) < 12 + 16:
        raise DecryptionError("a stored secret is too short: tampered data")
    return raw


def _open(aead: AESGCM, raw: bytes, aad: bytes) -> str | None:
    """The plaintext, or ``None`` when the tag does not verify under this key."""
    try:
        return aead.decrypt(raw[:12], raw[12:], aad).decode("utf-8")
    except (InvalidTag, UnicodeDecodeError):
        return None


def _previous_keys(previous: Sequence[str] | None, environ: Mapping[str, str]) -> list[bytes]:
    if previous is not None:
        return [
            k for n, text in enumerate(previous, 1) for k in _decode_keys(text, f"previous key {n}")
        ]
    if environ.get(PREVIOUS_KEYS_ENV):
        return _decode_keys(environ[PREVIOUS_KEYS_ENV], PREVIOUS_KEYS_ENV)
    if environ.get(PREVIOUS_KEYS_FILE_ENV):
        return _decode_keys(
            Path(environ[PREVIOUS_KEYS_FILE_ENV]).read_text(), PREVIOUS_KEYS_FILE_ENV
        )
    return []


def _primary_key(
    key: str | None, key_file: Path | None, state_dir: Path | None, environ: Mapping[str, str]
) -> bytes:
    if key:
        return _decode_key(key, "encryption key")
    if key_file:
        return _decode_key(key_file.read_text(), str(key_file))
    if environ.get(KEY_ENV):
        return _decode_key(environ[KEY_ENV], KEY_ENV)
    if environ.get(KEY_FILE_ENV):
        return _decode_key(Path(environ[KEY_FILE_ENV]).read_text(), KEY_FILE_ENV)
    if state_dir is None:
        raise EncryptionKeyError(f"no encryption key: set {KEY_ENV} or {KEY_FILE_ENV}")
    path = state_dir / "encryption.key"
    if not path.exists():
        state_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(generate_key())
    return _decode_key(path.read_text(), str(path))


def load_secret_box(
    *,
    key: str | None = None,
    key_file: Path | None = None,
    previous: Sequence[str] | None = None,
    state_dir: Path | None = None,
    environ: Mapping[str, str] = os.environ,
) -> SecretBox:
    """The box of this process's keys.

    The primary key: explicit value, explicit file, the env vars, else a generated local key file.
    That last fallback (``state_dir/encryption.key``, mode 0600) keeps the embedded single-machine
    default working out of the box; a service deployment should set the env var or file.
    Previous keys: ``previous`` (base64 keys, each entry may hold several, comma-separated), else
    the env var, else the file it names.
    """
    primary = _primary_key(key, key_file, state_dir, environ)
    return SecretBox(primary, _previous_keys(previous, environ))
