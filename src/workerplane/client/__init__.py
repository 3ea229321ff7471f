"""Clients of the control plane: the REST API client the CLI uses, and Temporal interop."""

from workerplane.client.http import ApiError, WorkerplaneClient, resolve_client_config

__all__ = ["ApiError", "WorkerplaneClient", "resolve_client_config"]
