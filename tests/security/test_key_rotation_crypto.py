"""Key rotation in the secret box: key ids, previous keys, the legacy format, clear errors."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from workerplane.security.crypto import (
    LEGACY_KEY_ID,
    DecryptionError,
    EncryptionKeyError,
    SecretBox,
    UnknownKeyError,
    generate_key,
    key_id,
    load_secret_box,
)

KEY_A, KEY_B, KEY_C = (bytes([n]) * 32 for n in (0xA1, 0xB2, 0xC3))


def legacy_token(key: bytes, plaintext: str) -> str:
    """A value as releases before key rotation sealed it: ``wpenc:v1:``, no key id."""
    nonce = os.urandom(12)
    sealed = AESGCM(key).encrypt(nonce, plaintext.encode(), b"workerplane-secret-v1")
    return "wpenc:v1:" + base64.b64encode(nonce + sealed).decode()


def test_new_values_carry_the_primary_key_id_and_previous_keys_only_open() -> None:
    old = SecretBox(KEY_A)
    rotated = SecretBox(KEY_B, [KEY_A])
    sealed_by_a = old.encrypt("s3cret")
    assert sealed_by_a.startswith(f"wpenc:v2:{key_id(KEY_A)}:")
    assert rotated.decrypt(sealed_by_a) == "s3cret"
    assert not rotated.is_current(sealed_by_a)
    sealed_by_b = rotated.encrypt("s3cret")
    assert sealed_by_b.startswith(f"wpenc:v2:{key_id(KEY_B)}:")
    assert rotated.is_current(sealed_by_b)
    assert SecretBox(KEY_B).decrypt(sealed_by_b) == "s3cret"
    assert rotated.key_ids == (key_id(KEY_B), key_id(KEY_A))
    assert SecretBox(KEY_B, [KEY_B, KEY_A, KEY_A]).key_ids == rotated.key_ids


def test_legacy_values_open_with_any_configured_key() -> None:
    token = legacy_token(KEY_A, "old-secret")
    assert SecretBox.key_id_of(token) == LEGACY_KEY_ID
    assert SecretBox(KEY_A).decrypt(token) == "old-secret"
    assert SecretBox(KEY_B, [KEY_A]).decrypt(token) == "old-secret"
    assert not SecretBox(KEY_A).is_current(token)
    with pytest.raises(UnknownKeyError, match="legacy format") as err:
        SecretBox(KEY_B).decrypt(token)
    assert err.value.key_id == LEGACY_KEY_ID


def test_unknown_key_id_is_a_clear_error_naming_it() -> None:
    token = SecretBox(KEY_C).encrypt("x")
    with pytest.raises(UnknownKeyError) as err:
        SecretBox(KEY_B, [KEY_A]).decrypt(token)
    message = str(err.value)
    assert err.value.key_id == key_id(KEY_C)
    assert f"'{key_id(KEY_C)}', which is not configured" in message
    assert key_id(KEY_B) in message and key_id(KEY_A) in message
    assert "WORKERPLANE_ENCRYPTION_PREVIOUS_KEYS" in message
    assert token.rsplit(":", 1)[1] not in message  # no ciphertext in the message


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-4] + ("AAAA" if not t.endswith("AAAA") else "BBBB"),  # tampered tag
        lambda t: t.replace(key_id(KEY_A), key_id(KEY_B)),  # relabelled with another key id
        lambda t: t[:40] + "!!" + t[42:],  # not base64
        lambda t: t.rsplit(":", 1)[0] + ":AAAA",  # too short
        lambda t: "plain text",
    ],
)
def test_tampered_values_raise_decryption_error(mangle) -> None:  # type: ignore[no-untyped-def]
    box = SecretBox(KEY_A, [KEY_B])
    with pytest.raises(DecryptionError):
        box.decrypt(mangle(box.encrypt("hunter2")))


def test_previous_keys_from_argument_env_and_file(tmp_path: Path) -> None:
    a, b, c = generate_key(), generate_key(), generate_key()
    assert load_secret_box(key=a, previous=[f"{b}, {c}"]).key_ids[1:] == tuple(
        key_id(base64.b64decode(k)) for k in (b, c)
    )
    env = {"WORKERPLANE_ENCRYPTION_KEY": a, "WORKERPLANE_ENCRYPTION_PREVIOUS_KEYS": f"{b},{c},"}
    assert len(load_secret_box(environ=env).key_ids) == 3
    (tmp_path / "previous").write_text(f"{b}\n{c}\n")
    env = {
        "WORKERPLANE_ENCRYPTION_KEY": a,
        "WORKERPLANE_ENCRYPTION_PREVIOUS_KEYS_FILE": str(tmp_path / "previous"),
    }
    box = load_secret_box(environ=env)
    assert box.primary_key_id == key_id(base64.b64decode(a)) and len(box.key_ids) == 3
    assert load_secret_box(environ={"WORKERPLANE_ENCRYPTION_KEY": a}).key_ids[1:] == ()
    with pytest.raises(EncryptionKeyError, match="WORKERPLANE_ENCRYPTION_PREVIOUS_KEYS"):
        load_secret_box(key=a, environ={"WORKERPLANE_ENCRYPTION_PREVIOUS_KEYS": "not-a-key"})
