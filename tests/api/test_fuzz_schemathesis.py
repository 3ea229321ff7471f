"""Property-based fuzzing of the whole OpenAPI document with schemathesis, every check on.

The app runs on a real uvicorn on loopback (SQLite). schemathesis sends at least 3,000 generated
requests (authenticated, so they get past the auth check into the handlers) through its
examples, coverage, fuzzing and stateful phases, with all its checks: no 5xx, status codes,
content types, headers and bodies as documented, schema-violating input refused,
schema-valid input accepted, ``Allow`` headers, auth not ignored, and more.

Three allowances, each for a reason the document cannot carry:

* ``DELETE /v1/tokens/{token_id}`` runs on its own, last: run with the rest, it revokes the
  fuzzer's own token and every later request is a 401.
* A schema-valid body may still get a 400 with field-level details where validity depends on
  rules JSON Schema cannot state: cross-field ones (``min_workers`` <= ``max_workers``) and a
  compute config's, which depend on the provider and scaler types (their ``details`` are
  validated by each type's own model). Likewise a list's ``page_token`` is any URL-safe string
  to the schema, but only the tokens the list handed out are accepted.
* A telemetry query may get a 422 naming ``since`` when its window runs backwards or spans more
  than 24 hours (a rule across ``since`` and ``until``).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from api_support import ServerThread, make_api

from workerplane.temporal.devserver import free_port

TOKEN_REVOCATION = "DELETE /v1/tokens/{token_id}"
#: Operations whose schema-valid bodies may be refused by rules JSON Schema cannot state.
SEMANTIC_RULES = (
    "POST /v1/endpoints",
    "PUT /v1/endpoints/{ref}",
    "POST /v1/worker-deployments/{name}/versions",
    "PATCH /v1/worker-deployments/{name}/versions/{build_id}/compute-config",
    "GET /v1/endpoints",
    "GET /v1/worker-deployments",
)
#: Telemetry queries: a time window must run forward and span at most 24 h, a rule across two
#: parameters (a 422 naming one).
WINDOW_RULES = (
    "GET /v1/worker-deployments/{name}/versions/{build_id}/groups/{group}/metrics",
    "GET /v1/endpoints/{ref}/metrics",
    "GET /v1/events",
    "GET /v1/endpoints/{ref}/events",
)
MIN_CASES = 3000


def _config(path: Path) -> Path:
    blocks = [
        f'[[operations]]\ninclude-name = "{name}"\n'
        "[operations.checks.positive_data_acceptance]\n"
        'expected-statuses = ["2xx", "400", "401", "403", "404", "409"]\n'
        for name in SEMANTIC_RULES
    ]
    blocks += [
        f'[[operations]]\ninclude-name = "{name}"\n'
        "[operations.checks.positive_data_acceptance]\n"
        'expected-statuses = ["2xx", "401", "403", "404", "422"]\n'
        for name in WINDOW_RULES
    ]
    path.write_text("\n".join(blocks))
    return path


def _schemathesis(port: int, token: str, config: Path, *selection: str) -> str:
    cli = Path(sys.executable).with_name("schemathesis")
    result = subprocess.run(
        [str(cli), "--config-file", str(config), "run", f"http://127.0.0.1:{port}/openapi.json",
         "--checks", "all", "--header", f"Authorization: Bearer {token}", "--no-color",
         "--seed", "1234", "--suppress-health-check", "too_slow,filter_too_much",
         *selection],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    return output


# Two schemathesis runs of up to 900 s each: about 2 minutes on an idle machine, far longer on
# a loaded one (the suite's 300 s default would cut it off).
@pytest.mark.timeout(1800)
def test_no_generated_request_breaks_the_documented_contract(tmp_path: Path) -> None:
    api = make_api(f"sqlite:///{tmp_path / 'fuzz.db'}")
    port = free_port()
    config = _config(tmp_path / "schemathesis.toml")
    with ServerThread(api.app, port):
        outputs = [
            _schemathesis(
                port, api.token, config, "--exclude-name", TOKEN_REVOCATION,
                "--phases", "examples,coverage,fuzzing,stateful", "--max-examples", "80",
            ),
            _schemathesis(
                port, api.token, config, "--include-name", TOKEN_REVOCATION,
                "--phases", "examples,coverage,fuzzing", "--max-examples", "40",
            ),
        ]  # fmt: skip
    cases = sum(int(n) for output in outputs for n in re.findall(r"(\d+) generated", output))
    assert cases >= MIN_CASES, outputs[0][-2000:]
    print(f"{cases} cases\n" + outputs[0][-1500:])
