"""The dev-server helper starts a real Temporal server that answers RPCs."""

from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client

from tests.fixtures_default_temporal import default_temporal_server  # noqa: F401 - fixture
from workerplane.temporal.devserver import CANCEL_POLLS_ON_SHUTDOWN_CONFIG, DevServer


async def test_dev_server_answers(temporal_server: DevServer) -> None:
    client = await Client.connect(temporal_server.address)
    response = await client.workflow_service.describe_namespace(
        DescribeNamespaceRequest(namespace="default")
    )
    assert response.namespace_info.name == "default"


def test_the_embedded_server_completes_a_retired_workers_polls(
    temporal_server: DevServer,
    default_temporal_server: DevServer,  # noqa: F811 - the fixture imported above
) -> None:
    """The embedded dev server cancels a shutting-down worker's polls (a task matched to a
    dropped poll otherwise waits out its timeout); the server "as users run it" keeps
    Temporal's default, so the tests see what a default server does."""
    for key, value in CANCEL_POLLS_ON_SHUTDOWN_CONFIG.items():
        assert temporal_server.extra_config.get(key) == value
        assert key not in default_temporal_server.extra_config
