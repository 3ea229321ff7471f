"""Report tokens: what a worker presents to push its measurements for ONE scaling group.

A report token names its group (version key and group ID) and carries an HMAC of that name
under a key derived from the store's encryption key (:meth:`SecretBox.macs`). So:

* it is **recomputed, never stored**: the controller mints the same token for a group after a
  restart, every API replica verifies it without a database read, and there is nothing to
  encrypt at rest or to leak from a table;
* it is **scoped**: it authorises ``POST /v1/worker-reports`` for its own group and nothing
  else (it is not an API token: every other route refuses it as unknown);
* it **rotates with the encryption key**: a token minted under a previous key keeps verifying
  while that key is configured (``WORKERPLANE_ENCRYPTION_PREVIOUS_KEYS``), and dies with it.

Workers get it in ``WORKERPLANE_REPORT_TOKEN``, passed as a secret variable (never logged,
never part of a spec).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from dataclasses import dataclass

from workerplane.security.crypto import SecretBox

REPORT_TOKEN_PREFIX = "wpr_"
#: Longer presented tokens are refused before any work (a version key is at most 512
#: characters and a group ID 255; their encoding and the MAC fit well under this).
MAX_REPORT_TOKEN_LENGTH = 2048
_LABEL = b"workerplane-report-token-v1:"


@dataclass(frozen=True)
class ReportSubject:
    """The group a report token may report for."""

    version_key: str
    group_id: str


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _name(subject: ReportSubject) -> bytes:
    return json.dumps([subject.version_key, subject.group_id]).encode("utf-8")


def mint_report_token(box: SecretBox, subject: ReportSubject) -> str:
    """The report token of ``subject`` under the primary key (the same on every call)."""
    name = _name(subject)
    return f"{REPORT_TOKEN_PREFIX}{_b64(name)}.{_b64(box.macs(_LABEL + name)[0])}"


def verify_report_token(box: SecretBox, token: str) -> ReportSubject | None:
    """The group ``token`` reports for, or ``None`` when it is not a valid report token (under
    any configured key; compared in constant time)."""
    if not token.startswith(REPORT_TOKEN_PREFIX) or len(token) > MAX_REPORT_TOKEN_LENGTH:
        return None
    encoded_name, _, encoded_mac = token[len(REPORT_TOKEN_PREFIX) :].partition(".")
    try:
        name, presented = _unb64(encoded_name), _unb64(encoded_mac)
        version_key, group_id = json.loads(name)
    except (binascii.Error, ValueError, TypeError):
        return None
    if not isinstance(version_key, str) or not isinstance(group_id, str):
        return None
    if not any(hmac.compare_digest(presented, mac) for mac in box.macs(_LABEL + name)):
        return None
    return ReportSubject(version_key, group_id)
