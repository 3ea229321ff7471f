"""Resolving a Temporal connection: profile, env, spec and flags, without a server."""

from __future__ import annotations

from pathlib import Path

import pytest

from workerplane.config.model import TemporalConnection, TLSSettings
from workerplane.temporal.connection import (
    TemporalConnectionError,
    resolve_connection,
)

PROFILES = """
[profile.default]
address = "profile-host:7233"
namespace = "profile-ns"

[profile.cloud]
address = "ns.acct.tmprl.cloud:7233"
namespace = "ns.acct"
api_key = "profile-key"

[profile.mtls]
address = "mtls-host:7233"
[profile.mtls.tls]
server_name = "temporal.internal"
server_ca_cert_path = "/certs/ca.pem"
client_cert_path = "/certs/client.pem"
client_key_data = "-----BEGIN PRIVATE KEY-----"
"""


@pytest.fixture
def config_file(tmp_path: Path) -> str:
    path = tmp_path / "temporal.toml"
    path.write_text(PROFILES)
    return str(path)


def test_nothing_set_is_plain_localhost() -> None:
    connection = resolve_connection(env={})
    assert (connection.address, connection.namespace) == ("localhost:7233", "default")
    assert connection.tls_mode == "plain"
    assert connection.connect_kwargs()["tls"] is False
    assert (
        connection.describe() == "Temporal localhost:7233 namespace=default tls=plain api_key=unset"
    )


def test_env_vars_tls_and_key() -> None:
    env = {
        "TEMPORAL_ADDRESS": "env-host:7233",
        "TEMPORAL_NAMESPACE": "env-ns",
        "TEMPORAL_API_KEY": "env-key",
        "TEMPORAL_TLS_SERVER_CA_CERT_PATH": "/ca.pem",
        "TEMPORAL_TLS_SERVER_NAME": "temporal.example",
    }
    connection = resolve_connection(env=env)
    assert connection.address == "env-host:7233"
    assert connection.tls_mode == "tls"
    assert connection.tls is not None and connection.tls.server_ca_cert_path == "/ca.pem"
    description = connection.describe()
    assert "api_key=set" in description and "env-key" not in description
    assert "ca=/ca.pem" in description and "server_name=temporal.example" in description
    assert "env-key" not in repr(connection)


def test_api_key_turns_tls_on_unless_turned_off() -> None:
    assert resolve_connection(env={"TEMPORAL_API_KEY": "k"}).tls_mode == "tls"
    assert resolve_connection(env={"TEMPORAL_API_KEY": "k"}).connect_kwargs()["tls"] is True
    off = resolve_connection(env={"TEMPORAL_API_KEY": "k", "TEMPORAL_TLS": "false"})
    assert off.tls_mode == "plain" and off.api_key == "k"
    spec_off = resolve_connection(TemporalConnection(api_key="k", tls=False), env={})
    assert spec_off.tls_mode == "plain"


def test_profile_from_config_file(config_file: str) -> None:
    default = resolve_connection(TemporalConnection(config_file=config_file), env={})
    assert (default.address, default.namespace, default.tls_mode) == (
        "profile-host:7233",
        "profile-ns",
        "plain",
    )
    cloud = resolve_connection(
        TemporalConnection(profile="cloud"), env={"TEMPORAL_CONFIG_FILE": config_file}
    )
    assert cloud.api_key == "profile-key" and cloud.tls_mode == "tls"


def test_profile_mtls_sources_keep_paths_and_data_apart(config_file: str) -> None:
    connection = resolve_connection(
        TemporalConnection(profile="mtls", config_file=config_file), env={}
    )
    assert connection.tls_mode == "mtls"
    tls = connection.tls
    assert tls is not None
    assert tls.client_cert_path == "/certs/client.pem"
    assert tls.client_key_path is None
    assert tls.client_key_data is not None
    assert tls.client_key_data.get_secret_value() == "-----BEGIN PRIVATE KEY-----"
    plain, secret = connection.worker_env()
    assert plain["TEMPORAL_TLS_CLIENT_CERT_PATH"] == "/certs/client.pem"
    assert secret["TEMPORAL_TLS_CLIENT_KEY_DATA"] == "-----BEGIN PRIVATE KEY-----"


def test_precedence_profile_env_spec_flags(config_file: str) -> None:
    env = {"TEMPORAL_CONFIG_FILE": config_file, "TEMPORAL_NAMESPACE": "env-ns"}
    assert resolve_connection(env=env).namespace == "env-ns"
    spec = TemporalConnection(namespace="spec-ns", address="spec-host:1")
    assert resolve_connection(spec, env=env).namespace == "spec-ns"
    flagged = resolve_connection(spec, address="flag-host:2", namespace="flag-ns", env=env)
    assert (flagged.address, flagged.namespace) == ("flag-host:2", "flag-ns")


def test_spec_tls_block_replaces_env_tls() -> None:
    env = {"TEMPORAL_TLS_SERVER_CA_CERT_PATH": "/env-ca.pem", "TEMPORAL_TLS_SERVER_NAME": "env"}
    spec = TemporalConnection(tls=TLSSettings(server_ca_cert_path="/spec-ca.pem"))
    tls = resolve_connection(spec, env=env).tls
    assert tls is not None
    assert (tls.server_ca_cert_path, tls.server_name) == ("/spec-ca.pem", None)
    kept = resolve_connection(TemporalConnection(tls=True), env=env).tls
    assert kept is not None and kept.server_ca_cert_path == "/env-ca.pem"


def test_worker_env_round_trips(config_file: str) -> None:
    connection = resolve_connection(
        TemporalConnection(profile="mtls", config_file=config_file, api_key="k"), env={}
    )
    plain, secret = connection.worker_env()
    worker = resolve_connection(env={**plain, **secret, "TEMPORAL_ADDRESS": connection.address})
    assert worker.tls == connection.tls
    assert (worker.tls_mode, worker.api_key) == (connection.tls_mode, "k")


def test_missing_profile_is_one_line(config_file: str) -> None:
    with pytest.raises(TemporalConnectionError, match=r"^Temporal profile 'nope': .*not found"):
        resolve_connection(TemporalConnection(profile="nope", config_file=config_file), env={})


def test_disable_host_verification_is_refused_plainly() -> None:
    spec = TemporalConnection(tls=TLSSettings(disable_host_verification=True))
    with pytest.raises(TemporalConnectionError, match=r"cannot be turned off.*server name"):
        resolve_connection(spec, env={})
    with pytest.raises(TemporalConnectionError, match="cannot be turned off"):
        resolve_connection(env={"TEMPORAL_TLS_DISABLE_HOST_VERIFICATION": "true"})


def test_unreadable_tls_file_names_it() -> None:
    connection = resolve_connection(
        TemporalConnection(tls=TLSSettings(server_ca_cert_path="/no/such/ca.pem")), env={}
    )
    with pytest.raises(TemporalConnectionError, match=r"CA certificate /no/such/ca\.pem"):
        connection.connect_kwargs()
