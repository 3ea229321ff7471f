"""AES-GCM at rest, redaction, and the log scrubber."""

from __future__ import annotations

import logging

import pytest

from workerplane.security.crypto import DecryptionError, SecretBox, generate_key, load_secret_box
from workerplane.security.redact import REDACTED, install_log_scrubber, register_secret
from workerplane.security.tokens import generate_token, hash_token, token_matches


def test_roundtrip_fresh_nonce_and_tamper_detection() -> None:
    box = load_secret_box(key=generate_key())
    a, b = box.encrypt("hunter2-password"), box.encrypt("hunter2-password")
    assert a != b and box.decrypt(a) == "hunter2-password"
    tampered = a[:-4] + ("AAAA" if not a.endswith("AAAA") else "BBBB")
    with pytest.raises(DecryptionError):
        box.decrypt(tampered)
    with pytest.raises(DecryptionError):
        SecretBox(b"\x09" * 32).decrypt(a)


def test_key_from_env_file_and_generated(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    key = generate_key()
    (tmp_path / "k").write_text(key)
    monkeypatch.delenv("WORKERPLANE_ENCRYPTION_KEY", raising=False)
    monkeypatch.setenv("WORKERPLANE_ENCRYPTION_KEY_FILE", str(tmp_path / "k"))
    token = load_secret_box().encrypt("x-secret")
    assert load_secret_box(key=key).decrypt(token) == "x-secret"
    monkeypatch.delenv("WORKERPLANE_ENCRYPTION_KEY_FILE")
    generated = load_secret_box(state_dir=tmp_path / "state")
    assert (tmp_path / "state" / "encryption.key").stat().st_mode & 0o777 == 0o600
    assert load_secret_box(state_dir=tmp_path / "state").decrypt(generated.encrypt("y")) == "y"


def test_tokens_hashed_and_compared() -> None:
    token = generate_token()
    assert hash_token(token) != token and token_matches(token, hash_token(token))
    assert not token_matches(token + "x", hash_token(token))


def test_log_scrubber_removes_registered_secrets_and_bearer_tokens(
    caplog: pytest.LogCaptureFixture,
) -> None:
    install_log_scrubber()
    register_secret("very-secret-value-42")
    caplog.set_level(logging.INFO)
    log = logging.getLogger("workerplane.securitytest")
    log.info("details %s", {"password": "very-secret-value-42"})
    log.info("header Authorization: Bearer abc.def.ghi")
    try:
        raise ValueError("boom very-secret-value-42")
    except ValueError:
        log.exception("failed")
    assert "very-secret-value-42" not in caplog.text
    assert "abc.def.ghi" not in caplog.text
    assert REDACTED in caplog.text
