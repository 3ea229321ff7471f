"""Resolve a Temporal connection the way Temporal's own tools do, and connect.

Order of precedence, lowest first: the ``temporal.toml`` profile, the ``TEMPORAL_*`` environment
variables (both read by :mod:`temporalio.envconfig`), then what the spec or the command line sets.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from temporalio.client import Client
from temporalio.envconfig import ClientConfigProfile
from temporalio.service import TLSConfig

from workerplane.config.model import TemporalConnection, TLSSettings

DEFAULT_ADDRESS = "localhost:7233"
DEFAULT_NAMESPACE = "default"


@dataclass(frozen=True)
class ResolvedConnection:
    """A fully resolved connection: what the controller connects with and what workers inherit."""

    address: str
    namespace: str
    api_key: str | None = field(default=None, repr=False)
    tls: TLSSettings | None = None
    tls_enabled: bool = False

    def connect_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for :meth:`temporalio.client.Client.connect`."""
        kwargs: dict[str, Any] = {"namespace": self.namespace}
        if self.api_key:
            kwargs["api_key"] = self.api_key
        if self.tls is not None:
            kwargs["tls"] = _tls_config(self.tls)
        elif self.tls_enabled or self.api_key:
            kwargs["tls"] = True
        return kwargs

    def worker_env(self) -> tuple[dict[str, str], dict[str, str]]:
        """Environment variables for workers, as ``(plain, secret)``, in envconfig's names."""
        plain: dict[str, str] = {}
        secret: dict[str, str] = {}
        if self.api_key:
            secret["TEMPORAL_API_KEY"] = self.api_key
        if self.tls is not None or self.tls_enabled:
            plain["TEMPORAL_TLS"] = "true"
        tls = self.tls
        if tls is not None:
            for env_name, value in (
                ("TEMPORAL_TLS_CLIENT_CERT_PATH", tls.client_cert_path),
                ("TEMPORAL_TLS_CLIENT_KEY_PATH", tls.client_key_path),
                ("TEMPORAL_TLS_SERVER_CA_CERT_PATH", tls.server_ca_cert_path),
                ("TEMPORAL_TLS_SERVER_NAME", tls.server_name),
            ):
                if value:
                    plain[env_name] = value
            for env_name, secret_value in (
                ("TEMPORAL_TLS_CLIENT_CERT_DATA", tls.client_cert_data),
                ("TEMPORAL_TLS_CLIENT_KEY_DATA", tls.client_key_data),
                ("TEMPORAL_TLS_SERVER_CA_CERT_DATA", tls.server_ca_cert_data),
            ):
                if secret_value is not None:
                    secret[env_name] = secret_value.get_secret_value()
            if tls.disable_host_verification:
                plain["TEMPORAL_TLS_DISABLE_HOST_VERIFICATION"] = "true"
        return plain, secret


def _tls_config(tls: TLSSettings) -> TLSConfig:
    def read(path: str | None, data: Any) -> bytes | None:
        if data is not None:
            return str(data.get_secret_value()).encode()
        return Path(path).read_bytes() if path else None

    return TLSConfig(
        server_root_ca_cert=read(tls.server_ca_cert_path, tls.server_ca_cert_data),
        client_cert=read(tls.client_cert_path, tls.client_cert_data),
        client_private_key=read(tls.client_key_path, tls.client_key_data),
        domain=tls.server_name,
    )


def resolve_connection(
    spec: TemporalConnection | None = None,
    *,
    address: str | None = None,
    namespace: str | None = None,
    env: dict[str, str] | None = None,
) -> ResolvedConnection:
    """Merge profile, environment, spec and explicit overrides into one connection."""
    spec = spec or TemporalConnection()
    environ = dict(os.environ if env is None else env)
    if spec.config_file:
        environ["TEMPORAL_CONFIG_FILE"] = spec.config_file
    profile = ClientConfigProfile.load(spec.profile, override_env_vars=environ)
    base = profile.to_client_connect_config()
    resolved_address = address or spec.address or base.get("target_host") or DEFAULT_ADDRESS
    resolved_namespace = namespace or spec.namespace or base.get("namespace") or DEFAULT_NAMESPACE
    api_key = spec.api_key.get_secret_value() if spec.api_key else base.get("api_key")
    tls_settings: TLSSettings | None = spec.tls if isinstance(spec.tls, TLSSettings) else None
    tls_enabled = bool(spec.tls) if spec.tls is not None else bool(base.get("tls"))
    if tls_settings is None and isinstance(base.get("tls"), TLSConfig):
        profile_tls = profile.tls
        if profile_tls is not None:
            tls_settings = _settings_from_profile(profile_tls)
    return ResolvedConnection(
        address=resolved_address,
        namespace=resolved_namespace,
        api_key=api_key,
        tls=tls_settings,
        tls_enabled=tls_enabled,
    )


def _settings_from_profile(profile_tls: Any) -> TLSSettings:
    def source(value: Any) -> tuple[str | None, str | None]:
        if value is None:
            return None, None
        if isinstance(value, Path | str):
            return str(value), None
        if isinstance(value, bytes):
            return None, value.decode()
        return None, None

    cert_path, cert_data = source(profile_tls.client_cert)
    key_path, key_data = source(profile_tls.client_private_key)
    ca_path, ca_data = source(profile_tls.server_root_ca_cert)
    return TLSSettings.model_validate(
        {
            "client_cert_path": cert_path,
            "client_key_path": key_path,
            "server_ca_cert_path": ca_path,
            "client_cert_data": cert_data,
            "client_key_data": key_data,
            "server_ca_cert_data": ca_data,
            "server_name": profile_tls.server_name,
            "disable_host_verification": bool(profile_tls.disable_host_verification),
        }
    )


async def connect(connection: ResolvedConnection, **kwargs: Any) -> Client:
    """Connect a Temporal client."""
    return await Client.connect(connection.address, **connection.connect_kwargs(), **kwargs)
