"""Resolve a Temporal connection the way Temporal's own tools do, and connect.

Every Temporal client workerplane makes goes through :func:`resolve_connection` and
:func:`connect`, so a connection set up once (env vars, a ``temporal.toml`` profile, the spec's
``temporal:`` block, command-line flags) works the same for the controller, the API server, the
interop commands and the workers.

Order of precedence, lowest first: the ``temporal.toml`` profile, the ``TEMPORAL_*`` environment
variables (both read by :mod:`temporalio.envconfig`), the spec's ``temporal:`` block, then the
command line (address, namespace). A ``tls`` object in the spec replaces the TLS settings of the
profile and environment as a whole, so two sources never mix into a CA from one and a client
certificate from the other.

TLS follows Temporal's envconfig: it is on when any TLS setting is given, or when an API key is
given and TLS was not turned off explicitly (``TEMPORAL_TLS=false``, ``tls: false``); an API key
over plaintext is possible, but only on request.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import SecretStr
from temporalio.client import Client
from temporalio.envconfig import ClientConfigProfile, ClientConfigTLS, DataSource
from temporalio.service import TLSConfig

from workerplane.config.model import TemporalConnection, TLSSettings
from workerplane.temporal.connect_errors import TemporalConnectionError, explain_failure

__all__ = [
    "DEFAULT_ADDRESS",
    "DEFAULT_NAMESPACE",
    "ResolvedConnection",
    "TLSMode",
    "TemporalConnectionError",
    "connect",
    "resolve_connection",
]

DEFAULT_ADDRESS = "localhost:7233"
DEFAULT_NAMESPACE = "default"

#: ``plain``: no TLS; ``tls``: the server proves who it is; ``mtls``: both sides do.
TLSMode = Literal["plain", "tls", "mtls"]

#: Read by Temporal's Go tools; the Python SDK can't do it, so workerplane refuses it plainly.
DISABLE_HOST_VERIFICATION_ENV = "TEMPORAL_TLS_DISABLE_HOST_VERIFICATION"
_TRUE = frozenset({"1", "true", "yes", "on"})


@dataclass(frozen=True)
class ResolvedConnection:
    """A fully resolved connection: what the controller connects with and what workers inherit."""

    address: str
    namespace: str
    api_key: str | None = field(default=None, repr=False)
    tls: TLSSettings | None = None
    tls_enabled: bool = False
    rpc_metadata: Mapping[str, str] = field(default_factory=dict, repr=False)

    @property
    def tls_mode(self) -> TLSMode:
        """How the two ends authenticate at the transport level."""
        if not self.tls_enabled:
            return "plain"
        tls = self.tls
        if tls is not None and (tls.client_cert_path or tls.client_cert_data):
            return "mtls"
        return "tls"

    def describe(self) -> str:
        """One line for humans and logs: where, which namespace, which TLS mode; never the key."""
        details = [f"tls={self.tls_mode}"]
        tls = self.tls
        if self.tls_enabled:
            if tls is not None and tls.server_ca_cert_path:
                details.append(f"ca={tls.server_ca_cert_path}")
            elif tls is not None and tls.server_ca_cert_data is not None:
                details.append("ca=inline")
            else:
                details.append("ca=system")
            if tls is not None and tls.server_name:
                details.append(f"server_name={tls.server_name}")
        details.append(f"api_key={'set' if self.api_key else 'unset'}")
        return f"Temporal {self.address} namespace={self.namespace} " + " ".join(details)

    def connect_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for :meth:`temporalio.client.Client.connect`.

        Raises:
            TemporalConnectionError: a TLS file that cannot be read.
        """
        kwargs: dict[str, Any] = {"namespace": self.namespace}
        if self.api_key:
            kwargs["api_key"] = self.api_key
        if self.rpc_metadata:
            kwargs["rpc_metadata"] = dict(self.rpc_metadata)
        if self.tls_enabled:
            kwargs["tls"] = _tls_config(self, self.tls) if self.tls is not None else True
        else:
            kwargs["tls"] = False
        return kwargs

    def worker_env(self) -> tuple[dict[str, str], dict[str, str]]:
        """Environment variables for workers, as ``(plain, secret)``, in envconfig's names.

        A worker reading them with :func:`resolve_connection` gets this same connection.
        """
        plain: dict[str, str] = {}
        secret: dict[str, str] = {}
        if self.tls_enabled:
            plain["TEMPORAL_TLS"] = "true"
        if self.api_key:
            secret["TEMPORAL_API_KEY"] = self.api_key
            if not self.tls_enabled:  # a key over plaintext was asked for: keep it that way
                plain["TEMPORAL_TLS"] = "false"
        for name, value in self.rpc_metadata.items():
            secret[f"TEMPORAL_GRPC_META_{name.upper().replace('-', '_')}"] = value
        tls = self.tls
        if self.tls_enabled and tls is not None:
            for env_name, path in (
                ("TEMPORAL_TLS_CLIENT_CERT_PATH", tls.client_cert_path),
                ("TEMPORAL_TLS_CLIENT_KEY_PATH", tls.client_key_path),
                ("TEMPORAL_TLS_SERVER_CA_CERT_PATH", tls.server_ca_cert_path),
                ("TEMPORAL_TLS_SERVER_NAME", tls.server_name),
            ):
                if path:
                    plain[env_name] = path
            for env_name, data in (
                ("TEMPORAL_TLS_CLIENT_CERT_DATA", tls.client_cert_data),
                ("TEMPORAL_TLS_CLIENT_KEY_DATA", tls.client_key_data),
                ("TEMPORAL_TLS_SERVER_CA_CERT_DATA", tls.server_ca_cert_data),
            ):
                if data is not None:
                    secret[env_name] = data.get_secret_value()
        return plain, secret


def _tls_config(connection: ResolvedConnection, tls: TLSSettings) -> TLSConfig:
    def read(what: str, path: str | None, data: SecretStr | None) -> bytes | None:
        if data is not None:
            return data.get_secret_value().encode()
        if not path:
            return None
        try:
            return Path(path).read_bytes()
        except OSError as err:
            raise TemporalConnectionError(
                f"cannot connect to {connection.describe()}: cannot read the TLS {what} "
                f"{path}: {err.strerror}"
            ) from None

    return TLSConfig(
        server_root_ca_cert=read(
            "CA certificate", tls.server_ca_cert_path, tls.server_ca_cert_data
        ),
        client_cert=read("client certificate", tls.client_cert_path, tls.client_cert_data),
        client_private_key=read("client key", tls.client_key_path, tls.client_key_data),
        domain=tls.server_name,
    )


def resolve_connection(
    spec: TemporalConnection | None = None,
    *,
    address: str | None = None,
    namespace: str | None = None,
    env: Mapping[str, str] | None = None,
) -> ResolvedConnection:
    """Merge profile, environment, spec and command-line values into one connection.

    ``env`` replaces ``os.environ`` (for tests and for resolving a worker's environment).

    Raises:
        TemporalConnectionError: an unreadable ``temporal.toml``, a profile that is not there, or
            a setting the SDK cannot honour (host verification turned off).
    """
    spec = spec or TemporalConnection()
    environ = dict(os.environ if env is None else env)
    if spec.config_file:
        environ["TEMPORAL_CONFIG_FILE"] = spec.config_file
    try:
        profile = ClientConfigProfile.load(spec.profile, override_env_vars=environ)
    except RuntimeError as err:  # temporalio's envconfig ConfigError
        where = spec.profile or environ.get("TEMPORAL_PROFILE") or "default"
        detail = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise TemporalConnectionError(f"Temporal profile {where!r}: {detail}") from None
    api_key = spec.api_key.get_secret_value() if spec.api_key else profile.api_key
    tls_settings, tls_enabled = _resolve_tls(spec.tls, profile.tls, api_key=bool(api_key))
    if environ.get(DISABLE_HOST_VERIFICATION_ENV, "").lower() in _TRUE or (
        tls_settings is not None and tls_settings.disable_host_verification
    ):
        raise TemporalConnectionError(
            "TLS host verification cannot be turned off: the Temporal Python SDK always checks "
            "the server's certificate. Set the server name (TEMPORAL_TLS_SERVER_NAME, "
            "temporal.tls.server_name) to a name the certificate carries, and its CA "
            "(TEMPORAL_TLS_SERVER_CA_CERT_PATH, temporal.tls.server_ca_cert_path)."
        )
    return ResolvedConnection(
        address=address or spec.address or profile.address or DEFAULT_ADDRESS,
        namespace=namespace or spec.namespace or profile.namespace or DEFAULT_NAMESPACE,
        api_key=api_key or None,
        tls=tls_settings,
        tls_enabled=tls_enabled,
        rpc_metadata=dict(profile.grpc_meta),
    )


def _resolve_tls(
    spec_tls: bool | TLSSettings | None, profile_tls: ClientConfigTLS | None, *, api_key: bool
) -> tuple[TLSSettings | None, bool]:
    """(settings, enabled): the spec decides if it says anything, then profile/env, then the key."""
    from_profile = _settings_from_profile(profile_tls) if profile_tls is not None else None
    if isinstance(spec_tls, TLSSettings):
        return spec_tls, True
    if spec_tls is not None:
        return (from_profile if spec_tls else None), spec_tls
    if profile_tls is not None and profile_tls.disabled is not None:
        return (None if profile_tls.disabled else from_profile), not profile_tls.disabled
    return from_profile, from_profile is not None or api_key


def _settings_from_profile(profile_tls: ClientConfigTLS) -> TLSSettings | None:
    """envconfig's sources as :class:`TLSSettings`: a Path is a file; str or bytes are PEM data."""

    def source(value: DataSource | None) -> tuple[str | None, str | None]:
        if isinstance(value, Path):
            return str(value), None
        if isinstance(value, bytes):
            return None, value.decode()
        return None, value

    cert_path, cert_data = source(profile_tls.client_cert)
    key_path, key_data = source(profile_tls.client_private_key)
    ca_path, ca_data = source(profile_tls.server_root_ca_cert)
    settings = TLSSettings.model_validate(
        {
            "client_cert_path": cert_path,
            "client_key_path": key_path,
            "server_ca_cert_path": ca_path,
            "client_cert_data": cert_data,
            "client_key_data": key_data,
            "server_ca_cert_data": ca_data,
            "server_name": profile_tls.server_name,
        }
    )
    return settings if settings != TLSSettings() else None


async def connect(connection: ResolvedConnection, **kwargs: Any) -> Client:
    """Connect a Temporal client.

    Raises:
        TemporalConnectionError: one line naming the address, the TLS mode and what to check.
    """
    try:
        return await Client.connect(connection.address, **connection.connect_kwargs(), **kwargs)
    except TemporalConnectionError:
        raise
    except RuntimeError as err:  # temporalio reports every connect failure as a RuntimeError
        raise TemporalConnectionError(explain_failure(connection, err)) from None
