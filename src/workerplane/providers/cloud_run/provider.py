"""The ``gcp-cloud-run`` provider: set a Cloud Run worker pool's manual instance count.

Details keys (Temporal's): ``project``, ``region``, ``worker_pool``, ``service_account``; plus
workerplane's optional ``api_endpoint`` (a different API host, e.g. a regional endpoint or a test
server), ``credentials_file`` (a service-account key file; normally left out so that Google's
Application Default Credentials apply), ``operation_timeout_s`` and ``max_attempts``.

* Credentials: ADC by default. With ``service_account`` (an e-mail address), the ADC identity
  impersonates that service account (it needs ``roles/iam.serviceAccountTokenCreator`` on it).
* :meth:`CloudRunProvider.set_size` PATCHes the worker pool with
  ``scaling.manual_instance_count = N`` (update mask ``scaling.manual_instance_count``) through the
  official ``google-cloud-run`` client (``run_v2.WorkerPoolsClient``) and waits on the returned
  long-running operation until Cloud Run has rolled the change out.
* :meth:`CloudRunProvider.validate` GETs the worker pool (``not_found`` / ``access_denied``
  otherwise).
* :meth:`CloudRunProvider.census` reads the pool's ``manual_instance_count``. The Cloud Run Admin
  API does not report live instances of a worker pool (only Cloud Monitoring does), so ``running``
  is the count Cloud Run holds, read back from Cloud Run (not our own memory), and ``ready`` is
  unknown.

The client calls block, so they run in a worker thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from google.api_core import exceptions as gexc

from workerplane.providers._retry import Backoff, retry_async, run_blocking
from workerplane.providers.base import Provider, ProviderCheck, ProviderContext, ProviderError
from workerplane.providers.cloud_run.details import CloudRunDetails
from workerplane.scaling.types import Strategy, WorkerCensus

log = logging.getLogger(__name__)

T = TypeVar("T")

MASK = "scaling.manual_instance_count"


def classify_google_error(exc: BaseException, what: str) -> ProviderError:
    """Map a google-api-core failure to a :class:`ProviderError`."""
    message = f"{what}: {type(exc).__name__}: {getattr(exc, 'message', None) or exc}"
    if isinstance(exc, gexc.PermissionDenied | gexc.Unauthenticated | gexc.Forbidden):
        return ProviderError(message, kind="access_denied", retryable=False)
    if isinstance(exc, gexc.NotFound):
        return ProviderError(message, kind="not_found", retryable=False)
    if isinstance(exc, gexc.TooManyRequests | gexc.ResourceExhausted):
        return ProviderError(message, kind="throttled", retryable=True)
    if isinstance(
        exc,
        gexc.ServerError
        | gexc.ServiceUnavailable
        | gexc.DeadlineExceeded
        | gexc.RetryError
        | gexc.Aborted
        | TimeoutError
        | ConnectionError,
    ):
        return ProviderError(message, kind="internal", retryable=True)
    if isinstance(exc, gexc.GoogleAPICallError):
        return ProviderError(message, kind="invalid", retryable=False)
    # requests' connection errors and the like: transient.
    return ProviderError(message, kind="internal", retryable=True)


def _credentials(details: CloudRunDetails) -> Any:
    """ADC, a key file, or anonymous (tests against a local server); then optional impersonation."""
    if details.anonymous:
        from google.auth.credentials import AnonymousCredentials

        return AnonymousCredentials()  # type: ignore[no-untyped-call]
    scopes = ["https://www.googleapis.com/auth/cloud-platform"]
    if details.credentials_file:
        from google.oauth2 import service_account

        source: Any = service_account.Credentials.from_service_account_file(  # type: ignore[no-untyped-call]
            details.credentials_file, scopes=scopes
        )
    else:
        import google.auth

        source, _ = google.auth.default(scopes=scopes)
    if details.service_account:
        from google.auth import impersonated_credentials

        return impersonated_credentials.Credentials(  # type: ignore[no-untyped-call]
            source_credentials=source,
            target_principal=details.service_account,
            target_scopes=scopes,
        )
    return source


class CloudRunProvider(Provider):
    """Holds a Cloud Run worker pool at a manual instance count (worker-set strategy)."""

    type = "gcp-cloud-run"
    strategy = Strategy.WORKER_SET

    def __init__(self, details: CloudRunDetails, *, backoff: Backoff | None = None) -> None:
        self.details = details
        self._backoff = backoff or Backoff(attempts=details.max_attempts)
        self._client: Any = None
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="wp-cloudrun")
        self._desired: int | None = None

    @classmethod
    def from_context(cls, ctx: ProviderContext[CloudRunDetails]) -> CloudRunProvider:
        return cls(ctx.details)

    def _get_client(self) -> Any:
        if self._client is None:
            from google.api_core.client_options import ClientOptions
            from google.cloud import run_v2

            options = ClientOptions(api_endpoint=self.details.api_endpoint)
            # REST transport: plain HTTPS/JSON, which also lets a local test server stand in.
            self._client = run_v2.WorkerPoolsClient(
                credentials=_credentials(self.details),
                transport="rest",
                client_options=options,
            )
        return self._client

    @property
    def claim(self) -> str:
        """The worker pool (a replacement provider sizes the same one)."""
        return self.details.sized_object()

    async def _call(self, fn: Callable[[], T], what: str) -> T:
        return await retry_async(
            lambda: run_blocking(self._pool, fn, classify_google_error, what),
            backoff=self._backoff,
            what=what,
        )

    async def _get(self) -> Any:
        return await self._call(
            lambda: self._get_client().get_worker_pool(name=self.details.name),
            f"run.workerPools.get {self.details.name}",
        )

    async def validate(self) -> ProviderCheck:
        try:
            pool = await self._get()
        except ProviderError as exc:
            return ProviderCheck(False, str(exc), kind=exc.kind)
        count = pool.scaling.manual_instance_count if pool.scaling else 0
        return ProviderCheck(
            True, f"worker pool {self.details.worker_pool} found ({count} instances)"
        )

    async def set_size(self, size: int) -> None:
        from google.cloud import run_v2
        from google.protobuf import field_mask_pb2

        def patch_and_wait() -> Any:
            request = run_v2.UpdateWorkerPoolRequest(
                worker_pool=run_v2.WorkerPool(
                    name=self.details.name,
                    scaling=run_v2.WorkerPoolScaling(manual_instance_count=int(size)),
                ),
                update_mask=field_mask_pb2.FieldMask(paths=[MASK]),
            )
            operation = self._get_client().update_worker_pool(request=request)
            # Blocks (in this worker thread) until Cloud Run reports the rollout done.
            return operation.result(timeout=self.details.operation_timeout_s)

        await self._call(patch_and_wait, f"run.workerPools.patch {self.details.name}")
        self._desired = size
        log.info("cloud run %s manualInstanceCount=%d", self.details.worker_pool, size)

    async def census(self) -> WorkerCensus:
        pool = await self._get()
        count = int(pool.scaling.manual_instance_count) if pool.scaling else 0
        return WorkerCensus(running=count, ready=None, desired=count)

    async def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
