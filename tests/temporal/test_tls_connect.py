"""Connecting through a real TLS front (nginx, gRPC over TLS) to the dev server.

Each way a user sets up a connection (env vars, a ``temporal.toml`` profile, the spec's
``temporal:`` block) must get through; each mistake must fail with one line that names the
address, the TLS mode and what to check.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from tls_front import TLSFront, tls_front_fixture  # noqa: F401 - fixture

from workerplane.config.model import TemporalConnection, TLSSettings
from workerplane.temporal.connection import (
    ResolvedConnection,
    TemporalConnectionError,
    connect,
    resolve_connection,
)
from workerplane.temporal.devserver import free_port

pytestmark = pytest.mark.integration


async def describe_namespace(connection: ResolvedConnection) -> str:
    """What the controller does: resolve, connect, then a call on the namespace."""
    client = await connect(connection)
    response = await client.workflow_service.describe_namespace(
        DescribeNamespaceRequest(namespace=connection.namespace)
    )
    return response.namespace_info.name


async def test_env_vars_with_api_key(tls_front: TLSFront) -> None:
    connection = resolve_connection(
        env={
            "TEMPORAL_ADDRESS": tls_front.tls_address,
            "TEMPORAL_API_KEY": tls_front.api_key,
            "TEMPORAL_TLS_SERVER_CA_CERT_PATH": str(tls_front.ca_path),
        }
    )
    assert connection.tls_mode == "tls"
    assert await describe_namespace(connection) == "default"


async def test_temporal_toml_profile(tls_front: TLSFront, tmp_path: Path) -> None:
    config = tmp_path / "temporal.toml"
    config.write_text(
        f'[profile.front]\naddress = "{tls_front.tls_address}"\napi_key = "{tls_front.api_key}"\n'
        f'[profile.front.tls]\nserver_ca_cert_path = "{tls_front.ca_path}"\n'
    )
    connection = resolve_connection(
        TemporalConnection(profile="front"), env={"TEMPORAL_CONFIG_FILE": str(config)}
    )
    assert await describe_namespace(connection) == "default"


async def test_spec_block_with_inline_ca(tls_front: TLSFront) -> None:
    spec = TemporalConnection(
        address=tls_front.tls_address,
        api_key=tls_front.api_key,
        tls=TLSSettings(server_ca_cert_data=tls_front.ca_path.read_text()),
    )
    assert await describe_namespace(resolve_connection(spec, env={})) == "default"


async def test_mtls(tls_front: TLSFront) -> None:
    connection = resolve_connection(
        env={
            "TEMPORAL_ADDRESS": tls_front.mtls_address,
            "TEMPORAL_TLS_SERVER_CA_CERT_PATH": str(tls_front.ca_path),
            "TEMPORAL_TLS_CLIENT_CERT_PATH": str(tls_front.client_cert_path),
            "TEMPORAL_TLS_CLIENT_KEY_PATH": str(tls_front.client_key_path),
        }
    )
    assert connection.tls_mode == "mtls"
    assert await describe_namespace(connection) == "default"


async def test_worker_env_reaches_the_front(tls_front: TLSFront) -> None:
    controller_side = resolve_connection(
        TemporalConnection(
            address=tls_front.tls_address,
            api_key=tls_front.api_key,
            tls=TLSSettings(server_ca_cert_path=str(tls_front.ca_path)),
        ),
        env={},
    )
    plain, secret = controller_side.worker_env()
    worker_side = resolve_connection(
        env={**plain, **secret, "TEMPORAL_ADDRESS": controller_side.address}
    )
    assert await describe_namespace(worker_side) == "default"


async def fails(connection: ResolvedConnection) -> str:
    with pytest.raises(TemporalConnectionError) as caught:
        await connect(connection)
    message = str(caught.value)
    assert "\n" not in message and "tonic" not in message
    assert message.startswith(f"cannot connect to Temporal {connection.address} ")
    assert f"tls={connection.tls_mode}" in message
    return message


async def test_mtls_without_client_certificate(tls_front: TLSFront) -> None:
    spec = TemporalConnection(
        address=tls_front.mtls_address, tls=TLSSettings(server_ca_cert_path=str(tls_front.ca_path))
    )
    assert "requires a client certificate" in await fails(resolve_connection(spec, env={}))


async def test_wrong_ca(tls_front: TLSFront) -> None:
    spec = TemporalConnection(
        address=tls_front.open_address,
        tls=TLSSettings(server_ca_cert_path=str(tls_front.other_ca_path)),
    )
    message = await fails(resolve_connection(spec, env={}))
    assert f"not signed by a CA trusted here ({tls_front.other_ca_path})" in message


async def test_missing_api_key(tls_front: TLSFront) -> None:
    spec = TemporalConnection(
        address=tls_front.tls_address, tls=TLSSettings(server_ca_cert_path=str(tls_front.ca_path))
    )
    message = await fails(resolve_connection(spec, env={}))
    assert "api_key=unset" in message and "no API key is set" in message


async def test_rejected_api_key(tls_front: TLSFront) -> None:
    spec = TemporalConnection(
        address=tls_front.tls_address,
        api_key="not-the-key",
        tls=TLSSettings(server_ca_cert_path=str(tls_front.ca_path)),
    )
    message = await fails(resolve_connection(spec, env={}))
    assert "rejected the API key" in message and "not-the-key" not in message


async def test_tls_against_plaintext_server(tls_front: TLSFront) -> None:
    connection = resolve_connection(
        env={"TEMPORAL_ADDRESS": tls_front.plaintext_address, "TEMPORAL_TLS": "true"}
    )
    assert "answered in plaintext" in await fails(connection)


async def test_plaintext_against_tls_server(tls_front: TLSFront) -> None:
    connection = resolve_connection(env={"TEMPORAL_ADDRESS": tls_front.open_address})
    assert "turn TLS on" in await fails(connection)


async def test_unreachable_address() -> None:
    connection = resolve_connection(env={"TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}"})
    assert "nothing answers there" in await fails(connection)
