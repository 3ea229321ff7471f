"""A real TLS front for the Temporal dev server: nginx proxying gRPC over TLS to its plaintext port.

Imported by tests (not a conftest) so only the tests that need it start nginx. nginx runs as the
current user with its own prefix, config, pid and logs under a temp dir; no system config is read.
The certificates come from ``trustme``: one CA signs the server's certificate (for ``localhost``)
and the client certificates that the mTLS listener requires.

Three listeners, one nginx:
- ``tls``: server TLS only, and a required ``authorization: Bearer <key>`` header (API key);
- ``mtls``: server TLS plus a required client certificate signed by the CA, no API key;
- ``open``: server TLS only, nothing else required.
A request without the right bearer token gets gRPC status 16 (UNAUTHENTICATED), as Temporal Cloud
answers a missing or rejected API key.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme

from workerplane.temporal.devserver import DevServer, free_port

API_KEY = "test-api-key-7f3a"
SERVER_NAME = "localhost"


@dataclass(frozen=True)
class TLSFront:
    """Where the front listens and the files a client needs to pass it."""

    tls_address: str
    mtls_address: str
    open_address: str
    plaintext_address: str
    ca_path: Path
    other_ca_path: Path
    client_cert_path: Path
    client_key_path: Path
    api_key: str = API_KEY


def _nginx_binary() -> str | None:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None
    )


def _server_block(port: int, upstream: str, certs: Path, *, mtls: bool, api_key: bool) -> str:
    client_auth = (
        f"ssl_client_certificate {certs / 'ca.pem'};\n        ssl_verify_client on;" if mtls else ""
    )
    key_check = (
        f'if ($http_authorization != "Bearer {API_KEY}") {{\n'
        "            add_header grpc-status 16 always;\n"
        '            add_header grpc-message "missing or invalid API key" always;\n'
        "            return 204;\n"
        "        }"
        if api_key
        else ""
    )
    return f"""
    server {{
        listen 127.0.0.1:{port} ssl http2;
        ssl_certificate {certs / "server.pem"};
        ssl_certificate_key {certs / "server.key"};
        {client_auth}
        location / {{
            default_type application/grpc;
            {key_check}
            grpc_pass grpc://{upstream};
        }}
    }}"""


def _wait_listening(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    """Wait for the port (a readiness check, not a timing assumption: bounded, then fail loudly)."""
    for _ in range(200):
        if process.poll() is not None:
            raise RuntimeError(f"nginx exited: {log.read_text() if log.exists() else ''}")
        try:
            with socket.create_connection(("127.0.0.1", port), 0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nginx did not listen on {port}: {log.read_text() if log.exists() else ''}")


def start_front(upstream: str, workdir: Path) -> tuple[TLSFront, subprocess.Popen[bytes]]:
    """Start nginx in front of ``upstream`` (host:port of a plaintext gRPC server)."""
    binary = _nginx_binary()
    if binary is None:
        pytest.skip("nginx is not installed (scripts/setup.d/35-nginx.sh installs it)")
    certs = workdir / "certs"
    for sub in ("certs", "logs", "tmp"):
        (workdir / sub).mkdir(parents=True, exist_ok=True)
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(certs / "ca.pem"))
    trustme.CA().cert_pem.write_to_path(str(certs / "other-ca.pem"))
    server_cert = ca.issue_cert(SERVER_NAME, "127.0.0.1")
    server_cert.private_key_pem.write_to_path(str(certs / "server.key"))
    server_cert.cert_chain_pems[0].write_to_path(str(certs / "server.pem"))
    for extra in server_cert.cert_chain_pems[1:]:
        extra.write_to_path(str(certs / "server.pem"), append=True)
    client_cert = ca.issue_cert("workerplane-test-client")
    client_cert.private_key_pem.write_to_path(str(certs / "client.key"))
    client_cert.cert_chain_pems[0].write_to_path(str(certs / "client.pem"))
    ports = {"tls": free_port(), "mtls": free_port(), "open": free_port()}
    tmp = workdir / "tmp"
    config = f"""
daemon off;
master_process off;
worker_processes 1;
pid {workdir / "nginx.pid"};
error_log {workdir / "logs" / "error.log"} info;
events {{ worker_connections 64; }}
http {{
    access_log {workdir / "logs" / "access.log"};
    client_body_temp_path {tmp};
    proxy_temp_path {tmp};
    fastcgi_temp_path {tmp};
    uwsgi_temp_path {tmp};
    scgi_temp_path {tmp};
    {_server_block(ports["tls"], upstream, certs, mtls=False, api_key=True)}
    {_server_block(ports["mtls"], upstream, certs, mtls=True, api_key=False)}
    {_server_block(ports["open"], upstream, certs, mtls=False, api_key=False)}
}}
"""
    conf = workdir / "nginx.conf"
    conf.write_text(config)
    process = subprocess.Popen(
        [binary, "-p", str(workdir), "-c", str(conf), "-e", str(workdir / "logs" / "error.log")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for port in ports.values():
        _wait_listening(port, process, workdir / "logs" / "error.log")
    front = TLSFront(
        tls_address=f"{SERVER_NAME}:{ports['tls']}",
        mtls_address=f"{SERVER_NAME}:{ports['mtls']}",
        open_address=f"{SERVER_NAME}:{ports['open']}",
        plaintext_address=upstream,
        ca_path=certs / "ca.pem",
        other_ca_path=certs / "other-ca.pem",
        client_cert_path=certs / "client.pem",
        client_key_path=certs / "client.key",
    )
    return front, process


@pytest.fixture(scope="module", name="tls_front")
def tls_front_fixture(
    temporal_server: DevServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TLSFront]:
    """nginx as a gRPC TLS front to the session's dev server, for one test module."""
    front, process = start_front(temporal_server.address, tmp_path_factory.mktemp("nginx"))
    try:
        yield front
    finally:
        process.terminate()
        process.wait(10)
