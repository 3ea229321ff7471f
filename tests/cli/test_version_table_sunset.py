"""``workerplane versions``: a draining version's row says where its sunset stands."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from workerplane.cli.versions import version_table


def _version(draining: bool, sunset: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "deployment_name": "orders", "build_id": "v1", "status": "READY", "is_current": False,
        "draining": draining, "available_workers": 0, "status_reason": None, "sunset": sunset,
        "compute_status": {"scaling_groups": {}},
    }  # fmt: skip


def _render(version: dict[str, Any]) -> str:
    console = Console(width=200, record=True)
    console.print(version_table([version]))
    return console.export_text()


def test_a_draining_version_shows_its_sunset_phase() -> None:
    assert "yes (scaled-down)" in _render(_version(True, {"phase": "scaled-down"}))
    assert "yes (" not in _render(_version(True, None))
    assert "scaled-down" not in _render(_version(False, {"phase": "scaled-down"}))
