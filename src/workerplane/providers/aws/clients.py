"""boto3 access shared by the AWS providers: clients with the role kept fresh, error classes.

boto3 calls block; the providers run them in thread pools of their own.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import boto3
import botocore.exceptions
from botocore.config import Config
from pydantic import SecretStr

from workerplane.providers.aws.access import AwsAccess
from workerplane.providers.base import ProviderError

_ACCESS_DENIED = {
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "ExpiredTokenException",
    "KMSAccessDeniedException",
    "AuthFailure",
}
_NOT_FOUND = {
    "ResourceNotFoundException",
    "ServiceNotFoundException",
    "ClusterNotFoundException",
    "NoSuchEntity",
    "NotFoundException",
}
_THROTTLED = {
    "TooManyRequestsException",
    "ThrottlingException",
    "Throttling",
    "RequestLimitExceeded",
    "SlowDown",
    "EC2ThrottledException",
    "ProvisionedThroughputExceededException",
}


def classify_aws_error(exc: BaseException, what: str) -> ProviderError:
    """Map a botocore failure to a :class:`ProviderError` (message safe to log: no credentials)."""
    if isinstance(exc, botocore.exceptions.ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        message = f"{what}: {code or 'HTTP ' + str(status)}: {error.get('Message', '')}".strip()
        if code in _THROTTLED or status == 429:
            return ProviderError(message, kind="throttled", retryable=True)
        if code in _ACCESS_DENIED or status == 403:
            return ProviderError(message, kind="access_denied", retryable=False)
        if code in _NOT_FOUND or status == 404:
            return ProviderError(message, kind="not_found", retryable=False)
        if status >= 500 or code in {"ServiceException", "InternalFailure", "ServiceUnavailable"}:
            return ProviderError(message, kind="internal", retryable=True)
        return ProviderError(message, kind="invalid", retryable=False)
    if isinstance(exc, botocore.exceptions.NoCredentialsError | botocore.exceptions.NoRegionError):
        return ProviderError(f"{what}: {exc}", kind="access_denied", retryable=False)
    if isinstance(
        exc,
        botocore.exceptions.EndpointConnectionError
        | botocore.exceptions.ConnectionError
        | botocore.exceptions.HTTPClientError,
    ):
        return ProviderError(f"{what}: {type(exc).__name__}", kind="internal", retryable=True)
    if isinstance(exc, botocore.exceptions.BotoCoreError):
        return ProviderError(f"{what}: {exc}", kind="internal", retryable=True)
    return ProviderError(f"{what}: {type(exc).__name__}: {exc}", kind="internal", retryable=True)


class AwsClients:
    """boto3 clients for one provider, built lazily, with the assumed role kept fresh.

    botocore's own retries are switched off: :func:`retry_async` owns retrying, so that the attempt
    budget and the classification are ours. boto3 clients are thread-safe once built; building them
    (and assuming the role) happens under a lock, since parallel invokes ask for a client at once.
    """

    _REFRESH_MARGIN_S = 300.0

    def __init__(self, access: AwsAccess, session_name: str, *, timeout_s: float = 10.0) -> None:
        self.access = access
        self.session_name = session_name
        self._config = Config(
            retries={"total_max_attempts": 1, "mode": "standard"},
            connect_timeout=timeout_s,
            read_timeout=timeout_s,
            max_pool_connections=32,
        )
        self._clients: dict[str, Any] = {}
        self._role_expires_at: float | None = None
        self._lock = threading.Lock()

    def _base_session(self) -> boto3.Session:
        a = self.access
        return boto3.Session(
            aws_access_key_id=_reveal(a.aws_access_key_id),
            aws_secret_access_key=_reveal(a.aws_secret_access_key),
            aws_session_token=_reveal(a.aws_session_token),
            region_name=a.effective_region,
        )

    def assume_role(self) -> dict[str, Any]:
        """Call STS AssumeRole with the external ID; returns the temporary credentials."""
        a = self.access
        assert a.role is not None
        sts = self._base_session().client("sts", endpoint_url=a.endpoint_url, config=self._config)
        kwargs: dict[str, Any] = {"RoleArn": a.role, "RoleSessionName": self.session_name}
        if a.role_external_id is not None:
            kwargs["ExternalId"] = a.role_external_id.get_secret_value()
        try:
            creds: dict[str, Any] = sts.assume_role(**kwargs)["Credentials"]
        except Exception as exc:
            raise classify_aws_error(exc, f"sts:AssumeRole {a.role}") from None
        return creds

    def client(self, service: str) -> Any:
        """A client for ``service``; a role is re-assumed shortly before its credentials lapse."""
        with self._lock:
            return self._client_locked(service)

    def _client_locked(self, service: str) -> Any:
        if (
            self.access.role
            and self._role_expires_at is not None
            and time.time() > self._role_expires_at - self._REFRESH_MARGIN_S
        ):
            self._clients.clear()
        if service not in self._clients:
            if self.access.role:
                creds = self.assume_role()
                session = boto3.Session(
                    aws_access_key_id=creds["AccessKeyId"],
                    aws_secret_access_key=creds["SecretAccessKey"],
                    aws_session_token=creds["SessionToken"],
                    region_name=self.access.effective_region,
                )
                expiration: Any = creds.get("Expiration")
                self._role_expires_at = (
                    float(expiration.timestamp())
                    if expiration is not None and hasattr(expiration, "timestamp")
                    else time.time() + 900
                )
            else:
                session = self._base_session()
            self._clients[service] = session.client(
                service, endpoint_url=self.access.endpoint_url, config=self._config
            )
        return self._clients[service]


def _reveal(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None
