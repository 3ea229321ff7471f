"""``type: aws-ecs``: workers are the tasks of an ECS service; scaling sets ``desiredCount``."""

from __future__ import annotations

from workerplane.providers.aws.access import AwsAccess
from workerplane.providers.fields import NonBlank


class EcsDetails(AwsAccess):
    """The service whose ``desiredCount`` is the worker count."""

    cluster: NonBlank
    service: NonBlank

    def sized_object(self) -> str:
        """The ECS service, in its region and endpoint."""
        where = f"{self.endpoint_url or ''}:{self.region or ''}"
        return f"aws-ecs:{where}:{self.cluster}/{self.service}"
