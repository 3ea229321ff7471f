"""File mode: a reload with a new build ID keeps the previous version running as draining."""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from workerplane.controller.local import FileSpecSource


def _write(path: Path, build_id: str, stamp: float) -> None:
    path.write_text(
        yaml.safe_dump(
            {
                "name": "orders",
                "task_queues": ["orders"],
                "deployment": {"name": "orders", "build_id": build_id},
                "compute": {
                    "scaling_groups": {
                        "g": {
                            "provider": {
                                "type": "subprocess",
                                "details": {"command": f"worker {build_id}"},
                            },
                            "scaler": {"type": "backlog", "details": {"min_count": 0}},
                        }
                    }
                },
            }
        )
    )
    os.utime(path, (stamp, stamp))


async def test_a_new_build_id_drains_the_previous_version(tmp_path: Path) -> None:
    path = tmp_path / "deploy.yaml"
    _write(path, "v1", 1000.0)
    source = FileSpecSource(path)
    assert [(v.key, v.draining) for v in await source.snapshot()] == [("orders/v1", False)]
    _write(path, "v2", 2000.0)
    assert [(v.key, v.draining) for v in await source.snapshot()] == [
        ("orders/v2", False),
        ("orders/v1", True),
    ]
    _write(path, "v1", 3000.0)  # back to v1: active again, v2 drains
    assert [(v.key, v.draining) for v in await source.snapshot()] == [
        ("orders/v1", False),
        ("orders/v2", True),
    ]


async def test_an_auto_build_id_follows_the_command(tmp_path: Path) -> None:
    path = tmp_path / "deploy.yaml"
    _write(path, "auto", 1000.0)
    first = (await FileSpecSource(path).snapshot())[0]
    assert first.key.startswith("orders/auto-")
