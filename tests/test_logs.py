"""``--log-format json``: one JSON object per line, with the group, version and decision of a
decision line, and secrets scrubbed as in the text format."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.controller.test_controller_unit import FakeMetrics, FakeProvider, Scripted, runtime
from workerplane.cli.main import app
from workerplane.controller.cycle import run_cycle
from workerplane.logs import LogFormat, configure_logging
from workerplane.scaling.types import SetSize, Strategy
from workerplane.security.redact import REDACTED, register_secret

SECRET = "planted-s3cret-value-7f3a"


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """configure_logging replaces the root handlers: put pytest's back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in root.handlers:
        handler.close()
    root.handlers[:] = handlers
    root.setLevel(level)


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.usefixtures("restore_logging")
async def test_a_decision_is_one_json_line_with_its_group(tmp_path: Path) -> None:
    log = tmp_path / "controller.log"
    configure_logging(log_format=LogFormat.JSON, log_file=log)
    group = runtime(FakeProvider(Strategy.WORKER_SET), Scripted([SetSize(2, "backlog 4")]))
    await run_cycle(group, FakeMetrics(4), monotonic=lambda: 1.0, wall_clock=lambda: 1000.0)
    [decision] = [line for line in _lines(log) if line["logger"] == "workerplane.decisions"]
    assert decision["level"] == "INFO"
    assert (decision["version"], decision["group"]) == ("orders", "g")
    assert (decision["decision"], decision["reason"]) == ("set size 2", "backlog 4")
    assert str(decision["message"]).startswith("orders/g set size 2: backlog 4")
    assert str(decision["ts"]).endswith("+00:00")


@pytest.mark.usefixtures("restore_logging")
def test_secrets_are_scrubbed_from_every_field(tmp_path: Path) -> None:
    register_secret(SECRET)
    log = tmp_path / "serve.log"
    configure_logging(log_format=LogFormat.JSON, log_file=log)
    logger = logging.getLogger("workerplane.test")
    logger.warning("connecting with %s", SECRET, extra={"reason": f"password={SECRET}"})
    try:
        raise RuntimeError(f"refused {SECRET}")
    except RuntimeError:
        logger.exception("failed")
    logger.info("Authorization: Bearer wpt_abcdefghijklmnop")
    text = log.read_text()
    assert SECRET not in text and "wpt_abcdefghijklmnop" not in text
    first, second, third = _lines(log)
    assert first["message"] == f"connecting with {REDACTED}"
    assert first["reason"] == f"password={REDACTED}"
    assert "RuntimeError" in str(second["exc"])
    assert REDACTED in str(third["message"])


@pytest.mark.usefixtures("restore_logging")
def test_text_stays_the_default(tmp_path: Path) -> None:
    log = tmp_path / "text.log"
    configure_logging(log_file=log)
    logging.getLogger("workerplane.test").info("plain %d", 1)
    assert log.read_text().rstrip().endswith("INFO workerplane.test: plain 1")


def test_the_environment_chooses_the_format_of_run() -> None:
    """WORKERPLANE_LOG_FORMAT is --log-format's default; a wrong value is a usage error."""
    result = CliRunner().invoke(
        app, ["run", "-f", "missing.yaml"], env={"WORKERPLANE_LOG_FORMAT": "xml"}
    )
    assert result.exit_code == 2
    assert "xml" in result.output and "Traceback" not in result.output
