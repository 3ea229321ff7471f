"""Turn a failed Temporal connection into one line a user can act on.

temporalio reports every connect failure as a ``RuntimeError`` whose text is the Rust core's
debug dump (``tonic::transport::Error(Transport, ConnectError(...))``). The causes a user can fix
are few: nothing listening, TLS on one side only, an untrusted or misnamed certificate, a missing
client certificate, a missing or rejected API key. Each gets the address, the TLS mode and what to
check; anything else keeps the SDK's first line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from workerplane.temporal.connection import ResolvedConnection


class TemporalConnectionError(RuntimeError):
    """A Temporal connection that cannot be made or configured, as one line for the user.

    A ``RuntimeError`` like temporalio's own connect failures, so callers that caught those keep
    working.
    """


_PLAINTEXT_SERVER = ("InvalidContentType", "wrong version number", "corrupt message")
_UNTRUSTED = ("UnknownIssuer", "BadSignature", "UnknownCA", "invalid peer certificate")
_WRONG_NAME = ("NotValidForName", "certificate is not valid for")
_CLIENT_CERT = ("CertificateRequired", "certificate required", "No required SSL certificate")
_UNREACHABLE = ("Connection refused", "dns error", "tcp connect error", "timed out", "Timeout")
_CLOSED = ("connection closed", "Canceled", "connection reset", "BrokenPipe", "h2 protocol")


def _has(text: str, needles: tuple[str, ...]) -> bool:
    lowered = text.lower()
    return any(needle.lower() in lowered for needle in needles)


def explain_failure(connection: ResolvedConnection, err: BaseException) -> str:
    """One line: ``cannot connect to <connection.describe()>: <cause and what to check>``."""
    return f"cannot connect to {connection.describe()}: {_hint(connection, str(err))}"


def _hint(connection: ResolvedConnection, text: str) -> str:
    mode = connection.tls_mode
    tls = connection.tls
    ca = (tls.server_ca_cert_path if tls is not None else None) or (
        "the inline CA" if tls is not None and tls.server_ca_cert_data is not None else None
    )
    if _has(text, _PLAINTEXT_SERVER):
        return (
            "the server answered in plaintext, not TLS. Check the port, or turn TLS off "
            "(TEMPORAL_TLS=false, temporal.tls: false) if this server has no TLS"
        )
    if _has(text, _WRONG_NAME):
        name = (tls.server_name if tls is not None else None) or connection.address.rsplit(":", 1)[
            0
        ]
        return (
            f"the server's certificate is not valid for {name!r}. Set the server name "
            "(TEMPORAL_TLS_SERVER_NAME, temporal.tls.server_name) to a name it carries"
        )
    if _has(text, _UNTRUSTED):
        trusted = ca or "the system's root CAs"
        return (
            f"the server's certificate is not signed by a CA trusted here ({trusted}). Check the "
            "CA certificate (TEMPORAL_TLS_SERVER_CA_CERT_PATH, temporal.tls.server_ca_cert_path)"
        )
    if _has(text, _CLIENT_CERT) or (mode != "mtls" and "400 Bad Request" in text):
        return (
            "the server requires a client certificate (mTLS). Set the client certificate and key "
            "(TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH, "
            "temporal.tls.client_cert_path and client_key_path)"
        )
    if "Unauthenticated" in text:
        if connection.api_key:
            return (
                "the server rejected the API key. Check that it is valid, not expired, and "
                f"allowed in namespace {connection.namespace!r}"
            )
        return (
            "the server requires credentials and no API key is set. Set TEMPORAL_API_KEY, "
            "temporal.api_key, or api_key in the temporal.toml profile"
            + ("" if mode == "mtls" else ", or a client certificate if the server uses mTLS")
        )
    if "PermissionDenied" in text:
        return (
            f"the credentials are not allowed in namespace {connection.namespace!r}. Check the "
            "namespace and the key's or certificate's permissions"
        )
    if _has(text, _UNREACHABLE):
        return "nothing answers there. Check the address and port, and that the server is up"
    if _has(text, _CLOSED):
        if mode == "plain":
            return (
                "the server closed the connection. If it requires TLS, turn TLS on "
                "(TEMPORAL_TLS=true, temporal.tls: true)"
            )
        return "the server closed the connection. Check the address, the TLS settings and the key"
    first_line = text.splitlines()[0] if text else "unknown error"
    return first_line.removeprefix("Failed client connect: ")
