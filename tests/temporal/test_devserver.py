"""The dev-server helper starts a real Temporal server that answers RPCs."""

from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client

from workerplane.temporal.devserver import DevServer


async def test_dev_server_answers(temporal_server: DevServer) -> None:
    client = await Client.connect(temporal_server.address)
    response = await client.workflow_service.describe_namespace(
        DescribeNamespaceRequest(namespace="default")
    )
    assert response.namespace_info.name == "default"
