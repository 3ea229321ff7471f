"""The layers hold: the import contracts in pyproject.toml (``[tool.importlinter]``) are kept.

The pure packages (config, scaling, sim, planning, errors, the provider registry and details)
import no edge of workerplane and no I/O library; the store sits below the controller and the
API, and the API below the CLI. ``lint-imports`` reads the contracts; it runs in a subprocess on
this checkout's ``src`` so the installed copy of workerplane can't stand in for it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

LINT_IMPORTS = (
    "import sys; from importlinter.cli import lint_imports; "
    "sys.exit(lint_imports(config_filename='pyproject.toml', no_cache=True, no_logo=True))"
)


def test_import_contracts_are_kept() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "src")}
    result = subprocess.run(
        [sys.executable, "-c", LINT_IMPORTS],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout
