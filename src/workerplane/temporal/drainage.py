"""Read a version's drainage from Temporal: ``DescribeWorkerDeploymentVersion`` → ``drainage_info``.

One call per read, without task-queue stats. The server refreshes the drainage itself, by
counting the version's open pinned workflows in visibility: first
``matching.wv.VersionDrainageStatusVisibilityGracePeriod`` after the version stopped being current
or ramping, then every ``matching.wv.VersionDrainageStatusRefreshInterval`` (both 3 minutes by
default) until it is DRAINED. Reading it more often than every few seconds therefore buys
nothing; the controller reads it per draining version at its own, slower interval.
"""

from __future__ import annotations

from datetime import timedelta

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from temporalio.api.deployment.v1 import WorkerDeploymentVersion
from temporalio.api.enums.v1 import VersionDrainageStatus, WorkerDeploymentVersionStatus
from temporalio.api.workflowservice.v1 import (
    DescribeWorkerDeploymentVersionRequest,
    DescribeWorkerDeploymentVersionResponse,
)
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from workerplane.planning.sunset import Drainage, DrainageState
from workerplane.temporal.connection import ResolvedConnection, connect
from workerplane.temporal.metrics import MetricsUnavailable

_STATES = {
    VersionDrainageStatus.VERSION_DRAINAGE_STATUS_DRAINING: DrainageState.DRAINING,
    VersionDrainageStatus.VERSION_DRAINAGE_STATUS_DRAINED: DrainageState.DRAINED,
}
_ROUTED = (
    WorkerDeploymentVersionStatus.WORKER_DEPLOYMENT_VERSION_STATUS_CURRENT,
    WorkerDeploymentVersionStatus.WORKER_DEPLOYMENT_VERSION_STATUS_RAMPING,
)


def _seconds(stamp: Timestamp, present: bool) -> float | None:
    return stamp.ToMicroseconds() / 1e6 if present else None


def drainage_of(response: DescribeWorkerDeploymentVersionResponse) -> Drainage:
    """The drainage a describe response reports."""
    info = response.worker_deployment_version_info
    drainage = info.drainage_info
    return Drainage(
        state=_STATES.get(drainage.status, DrainageState.NONE),
        routed=info.status in _ROUTED,
        changed_at=_seconds(drainage.last_changed_time, drainage.HasField("last_changed_time")),
        checked_at=_seconds(drainage.last_checked_time, drainage.HasField("last_checked_time")),
    )


class DrainageReader:
    """Reads versions' drainage, one Temporal client per connection (reused)."""

    def __init__(self, *, rpc_timeout_s: float = 5.0) -> None:
        self._timeout = rpc_timeout_s
        self._clients: dict[tuple[str, str, str | None], Client] = {}

    async def read(
        self, connection: ResolvedConnection, deployment_name: str, build_id: str
    ) -> Drainage | None:
        """The version's drainage; ``None`` when Temporal does not know the version (no worker
        of it ever polled).

        Raises:
            MetricsUnavailable: the call failed (the caller keeps what it knew).
        """
        try:
            client = await self._client(connection)
            response = await client.workflow_service.describe_worker_deployment_version(
                DescribeWorkerDeploymentVersionRequest(
                    namespace=connection.namespace,
                    deployment_version=WorkerDeploymentVersion(
                        deployment_name=deployment_name, build_id=build_id
                    ),
                ),
                timeout=timedelta(seconds=self._timeout),
            )
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return None
            raise MetricsUnavailable(str(err) or type(err).__name__) from err
        except (TimeoutError, grpc.RpcError, OSError, RuntimeError) as err:
            raise MetricsUnavailable(str(err) or type(err).__name__) from err
        return drainage_of(response)

    async def _client(self, connection: ResolvedConnection) -> Client:
        key = (connection.address, connection.namespace, connection.api_key)
        client = self._clients.get(key)
        if client is None:
            client = await connect(connection)
            self._clients[key] = client
        return client
