"""An httpx client for the workerplane REST API.

Where to connect and with which token: explicit arguments, then ``WORKERPLANE_URL`` /
``WORKERPLANE_TOKEN``, then a profile in ``~/.config/workerplane/config.toml`` (or the file named by
``WORKERPLANE_CONFIG``)::

    [profiles.default]
    url = "http://127.0.0.1:8233"
    token = "wpt_..."

The profile is chosen by ``--profile`` or ``WORKERPLANE_PROFILE`` (``default`` otherwise).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

DEFAULT_URL = "http://127.0.0.1:8233"


class ApiError(Exception):
    """A non-2xx answer. ``details`` are the field-level issues of a 400."""

    def __init__(self, status: int, code: str, message: str, details: list[dict[str, str]]) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details


@dataclass(frozen=True)
class ClientConfig:
    url: str
    token: str | None


def config_path() -> Path:
    explicit = os.environ.get("WORKERPLANE_CONFIG")
    if explicit:
        return Path(explicit)
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "workerplane" / "config.toml"


def resolve_client_config(
    url: str | None = None, token: str | None = None, profile: str | None = None
) -> ClientConfig:
    """Arguments, then environment variables, then the config profile."""
    profile_name = profile or os.environ.get("WORKERPLANE_PROFILE") or "default"
    data: dict[str, Any] = {}
    path = config_path()
    if path.exists():
        with path.open("rb") as handle:
            data = tomllib.load(handle).get("profiles", {}).get(profile_name, {})
    elif profile:
        raise FileNotFoundError(f"profile '{profile}' requested but {path} does not exist")
    return ClientConfig(
        url=url or os.environ.get("WORKERPLANE_URL") or data.get("url") or DEFAULT_URL,
        token=token or os.environ.get("WORKERPLANE_TOKEN") or data.get("token"),
    )


class WorkerplaneClient:
    """Thin, typed-by-convention wrapper over the REST routes (returns decoded JSON)."""

    def __init__(self, url: str, token: str | None, *, timeout_s: float = 30.0) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=timeout_s)

    @classmethod
    def from_env(
        cls, url: str | None = None, token: str | None = None, profile: str | None = None
    ) -> WorkerplaneClient:
        cfg = resolve_client_config(url, token, profile)
        return cls(cfg.url, cfg.token)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> WorkerplaneClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._http.request(method, path, **kwargs)
        if response.status_code >= 400:
            try:
                err = response.json().get("error", {})
            except ValueError:
                err = {}
            raise ApiError(
                response.status_code,
                str(err.get("code", "error")),
                str(err.get("message", response.text[:200] or response.reason_phrase)),
                list(err.get("details", [])),
            )
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    # -- health --------------------------------------------------------------------------------

    def health(self) -> Any:
        return self._call("GET", "/healthz")

    # -- endpoints -------------------------------------------------------------------------------

    def create_endpoint(self, body: dict[str, Any]) -> Any:
        return self._call("POST", "/v1/endpoints", json=body)

    def get_endpoint(self, ref: str) -> Any:
        return self._call("GET", f"/v1/endpoints/{ref}")

    def list_endpoints(
        self, page_size: int = 100, page_token: str | None = None, label: str | None = None
    ) -> Any:
        """One page; its ``next_page_token`` (when not null) fetches the next."""
        params: dict[str, Any] = {"page_size": page_size}
        if page_token:
            params["page_token"] = page_token
        if label:
            params["label"] = label
        return self._call("GET", "/v1/endpoints", params=params)

    def update_endpoint(self, ref: str, body: dict[str, Any]) -> Any:
        return self._call("PUT", f"/v1/endpoints/{ref}", json=body)

    def delete_endpoint(self, ref: str, conflict_token: str | None = None) -> Any:
        params = {"conflict_token": conflict_token} if conflict_token else {}
        return self._call("DELETE", f"/v1/endpoints/{ref}", params=params)

    # -- worker deployments and versions -------------------------------------------------------

    def create_deployment(
        self, name: str, namespace: str | None = None, request_id: str | None = None
    ) -> Any:
        body = {"name": name, "namespace": namespace, "request_id": request_id}
        return self._call(
            "POST", "/v1/worker-deployments", json={k: v for k, v in body.items() if v is not None}
        )

    def get_deployment(self, name: str) -> Any:
        return self._call("GET", f"/v1/worker-deployments/{name}")

    def list_deployments(self, limit: int = 100, offset: int = 0) -> Any:
        return self._call(
            "GET", "/v1/worker-deployments", params={"limit": limit, "offset": offset}
        )

    def delete_deployment(self, name: str) -> Any:
        return self._call("DELETE", f"/v1/worker-deployments/{name}")

    def create_version(self, deployment: str, body: dict[str, Any]) -> Any:
        return self._call("POST", f"/v1/worker-deployments/{deployment}/versions", json=body)

    def get_version(self, deployment: str, build_id: str) -> Any:
        return self._call("GET", f"/v1/worker-deployments/{deployment}/versions/{build_id}")

    def list_versions(self, deployment: str) -> Any:
        return self._call("GET", f"/v1/worker-deployments/{deployment}/versions")

    def update_compute_config(self, deployment: str, build_id: str, body: dict[str, Any]) -> Any:
        return self._call(
            "PATCH",
            f"/v1/worker-deployments/{deployment}/versions/{build_id}/compute-config",
            json=body,
        )

    def validate_compute_config(self, deployment: str, build_id: str, body: dict[str, Any]) -> Any:
        return self._call(
            "POST",
            f"/v1/worker-deployments/{deployment}/versions/{build_id}/compute-config/validate",
            json=body,
        )

    def validate(self, body: dict[str, Any]) -> Any:
        return self._call("POST", "/v1/validate", json=body)

    def drain_version(
        self, deployment: str, build_id: str, conflict_token: str | None = None
    ) -> Any:
        body = {"conflict_token": conflict_token} if conflict_token else {}
        return self._call(
            "POST", f"/v1/worker-deployments/{deployment}/versions/{build_id}/drain", json=body
        )

    def delete_version(self, deployment: str, build_id: str) -> Any:
        return self._call("DELETE", f"/v1/worker-deployments/{deployment}/versions/{build_id}")

    def get_rollout(self, deployment: str) -> Any:
        return self._call("GET", f"/v1/worker-deployments/{deployment}/rollout")

    def rollout_command(self, deployment: str, command: str) -> Any:
        """``pause``, ``resume``, ``promote`` or ``rollback`` the deployment's rollout."""
        return self._call("POST", f"/v1/worker-deployments/{deployment}/rollout/{command}")

    def set_current(
        self, deployment: str, build_id: str | None, conflict_token: str | None = None
    ) -> Any:
        body = {"build_id": build_id, "conflict_token": conflict_token}
        return self._call(
            "POST",
            f"/v1/worker-deployments/{deployment}/set-current",
            json={k: v for k, v in body.items() if v is not None},
        )

    def set_ramping(
        self,
        deployment: str,
        build_id: str | None,
        percentage: float,
        conflict_token: str | None = None,
    ) -> Any:
        body = {"build_id": build_id, "percentage": percentage, "conflict_token": conflict_token}
        return self._call(
            "POST",
            f"/v1/worker-deployments/{deployment}/set-ramping",
            json={k: v for k, v in body.items() if v is not None},
        )

    # -- tokens and audit (admin) --------------------------------------------------------------

    def create_token(self, name: str, scope: str, expires_in_s: int | None = None) -> Any:
        body: dict[str, Any] = {"name": name, "scope": scope}
        if expires_in_s is not None:
            body["expires_in_s"] = expires_in_s
        return self._call("POST", "/v1/tokens", json=body)

    def list_tokens(self) -> Any:
        return self._call("GET", "/v1/tokens")

    def revoke_token(self, token_id: int) -> Any:
        return self._call("DELETE", f"/v1/tokens/{token_id}")

    def audit(self, limit: int = 100, offset: int = 0) -> Any:
        return self._call("GET", "/v1/audit", params={"limit": limit, "offset": offset})
