"""Property-based fuzzing of the whole OpenAPI spec with schemathesis: no input yields a 5xx.

The app runs on a real uvicorn on loopback (SQLite); schemathesis sends at least 500 generated
requests (authenticated, so they get past the auth check into the handlers).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from api_support import ServerThread, make_api

from workerplane.temporal.devserver import free_port


def test_no_generated_request_gets_a_5xx(tmp_path: Path) -> None:
    api = make_api(f"sqlite:///{tmp_path / 'fuzz.db'}")
    token = api.token
    port = free_port()
    cli = Path(sys.executable).with_name("schemathesis")
    with ServerThread(api.app, port):
        result = subprocess.run(
            [str(cli), "run", f"http://127.0.0.1:{port}/openapi.json",
             "--checks", "not_a_server_error", "--max-examples", "40",
             "--header", f"Authorization: Bearer {token}", "--no-color",
             "--phases", "examples,coverage,fuzzing", "--seed", "1234"],
            capture_output=True, text=True, timeout=900,
        )  # fmt: skip
    output = result.stdout + result.stderr
    counts = [int(n) for n in re.findall(r"(\d+) generated", output)]
    total = sum(counts) if counts else 0
    assert result.returncode == 0, output[-4000:]
    assert total >= 500, output[-2000:]
    print(output[-1500:])
