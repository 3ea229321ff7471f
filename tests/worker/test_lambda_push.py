"""A Lambda invocation pushes what it measured to the real API before the handler returns.

The handler runs in process against the real dev server (as in ``test_aws_lambda.py``); the
API is the real app served by uvicorn on loopback, on SQLite.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from api_support import ServerThread, make_api
from test_aws_lambda import DeadlineContext, _event, _results, _start

from examples.app import ProcessItem, process_item
from workerplane.security.report_tokens import ReportSubject, mint_report_token
from workerplane.temporal.devserver import free_port
from workerplane.worker.aws_lambda import handler_for
from workerplane.worker.push import REPORT_PATH, REPORT_TOKEN_ENV, REPORT_URL_ENV

pytestmark = pytest.mark.integration


def test_the_invocation_pushes_before_returning(
    temporal_address: str, unique_name: str, tmp_path: Path
) -> None:
    api = make_api(f"sqlite:///{tmp_path / 'api.db'}")
    subject = ReportSubject(f"{unique_name}/v1", "lambda")
    port = free_port()
    ids = asyncio.run(_start(temporal_address, unique_name, [0.1] * 5))
    handler = handler_for(workflows=[ProcessItem], activities=[process_item], idle_exit_s=2.0)
    report = {
        REPORT_URL_ENV: f"http://127.0.0.1:{port}{REPORT_PATH}",
        REPORT_TOKEN_ENV: mint_report_token(api.store.box, subject),
    }
    with ServerThread(api.app, port):
        reply = handler(_event(temporal_address, unique_name, **report), DeadlineContext(120))
        totals = api.store.worker_reports.totals()
    assert reply["exit_reason"] == "idle"
    asyncio.run(_results(temporal_address, ids))
    assert set(totals) == {subject}
    assert totals[subject].count == 5
    api.store.db.dispose()
