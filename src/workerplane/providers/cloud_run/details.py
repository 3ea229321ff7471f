"""``type: gcp-cloud-run``: a Cloud Run worker pool; scaling sets ``manualInstanceCount``."""

from __future__ import annotations

from pydantic import Field

from workerplane.providers.fields import HttpUrl, NonBlank, ProviderDetails


class CloudRunDetails(ProviderDetails):
    """The worker pool, and how to reach the Cloud Run API."""

    project: NonBlank
    region: NonBlank
    worker_pool: NonBlank
    service_account: str | None = None
    """Service account to impersonate; the ambient credentials when unset."""
    api_endpoint: HttpUrl | None = None
    """A different Cloud Run API host (a regional endpoint, or a local test server)."""
    credentials_file: str | None = None
    """A service-account key file; Application Default Credentials when unset."""
    anonymous: bool = False
    """Send no credentials (only for a local test server behind ``api_endpoint``)."""
    operation_timeout_s: float = Field(default=300.0, gt=0, le=3_600)
    """How long a scale change may take to roll out (the long-running operation)."""
    max_attempts: int = Field(default=6, ge=1, le=100)
    """Tries per API call, the first included (429 and 5xx are retried with backoff)."""

    def sized_object(self) -> str:
        """The worker pool, at its API endpoint."""
        return f"gcp-cloud-run:{self.api_endpoint or ''}:{self.name}"

    @property
    def name(self) -> str:
        """The worker pool's resource name."""
        return f"projects/{self.project}/locations/{self.region}/workerPools/{self.worker_pool}"
