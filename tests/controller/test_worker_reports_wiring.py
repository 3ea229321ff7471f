"""Under ``serve``, groups whose provider cannot read its workers' reports get a report URL and
token for their workers, and their census carries what the workers pushed."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from workerplane.controller.worker_reports import (
    PushedSketches,
    PushingProvider,
    reporting_providers,
)
from workerplane.providers.aws_lambda.provider import build_event
from workerplane.providers.base import Provider, ProviderCheck, WorkerEnvironment
from workerplane.providers.kubernetes.details import CredentialsRef, ManagedDeploymentSpec
from workerplane.providers.kubernetes.pod import own_secret_env
from workerplane.scaling.latency import LatencySketch
from workerplane.scaling.types import Strategy, WorkerCensus
from workerplane.security.crypto import SecretBox
from workerplane.security.report_tokens import ReportSubject, verify_report_token
from workerplane.worker.push import REPORT_PATH, REPORT_TOKEN_ENV, REPORT_URL_ENV

BOX = SecretBox(b"\x05" * 32)
ENV = WorkerEnvironment(address="t:7233", namespace="default", task_queues=("q",))
SUBJECT = ReportSubject("orders/v1", "workers")
ONE_WORKER = WorkerCensus(running=1)


class FakeReports:
    def __init__(self) -> None:
        self.totals_read = 0
        self.sums: dict[ReportSubject, LatencySketch] = {SUBJECT: LatencySketch.of([0.5, 1.0])}

    def totals(self) -> dict[ReportSubject, LatencySketch]:
        self.totals_read += 1
        return self.sums

    def prune(self, before: float) -> int:
        return 0


class FakeProvider(Provider):
    type = "fake"
    strategy = Strategy.WORKER_SET

    def __init__(self, env: WorkerEnvironment, census: WorkerCensus) -> None:
        self.env = env
        self._census = census
        self.removed = False

    async def validate(self) -> ProviderCheck:
        return ProviderCheck(True)

    async def census(self) -> WorkerCensus:
        return self._census

    async def remove_resources(self) -> None:
        self.removed = True


def built(type_name: str, census: WorkerCensus = ONE_WORKER) -> tuple[Provider, Any]:
    seen: dict[str, Any] = {}

    def build(type_name: str, details: Mapping[str, Any], **kw: Any) -> Provider:
        seen.update(kw)
        return FakeProvider(kw["worker_env"], census)

    factory = reporting_providers(
        "http://api:8233/", BOX, PushedSketches(FakeReports()), build=build
    )
    provider = factory(
        type_name, {}, deployment=SUBJECT.version_key, group_id=SUBJECT.group_id,
        worker_env=ENV, state_dir=Path("."),
    )  # fmt: skip
    return provider, seen["worker_env"]


async def test_pushing_groups_get_the_url_and_a_token_for_their_group_only() -> None:
    provider, env = built("webhook")
    assert isinstance(provider, PushingProvider)
    assert env.extra_env[REPORT_URL_ENV] == "http://api:8233" + REPORT_PATH
    token = env.secret_env[REPORT_TOKEN_ENV]
    assert verify_report_token(BOX, token) == SUBJECT
    assert token not in repr(env)
    census = await provider.census()
    assert census.running == 1
    assert census.schedule_to_start == LatencySketch.of([0.5, 1.0])


async def test_a_pushing_group_s_sunset_still_removes_its_resources() -> None:
    """Every call but the census is the inner provider's, a version's last one included (a
    Kubernetes Deployment deleted once its sunset is over)."""
    provider, _ = built("k8s")
    assert isinstance(provider, PushingProvider)
    await provider.remove_resources()
    assert isinstance(provider.inner, FakeProvider) and provider.inner.removed


async def test_subprocess_groups_read_their_status_files_as_before() -> None:
    provider, env = built("subprocess")
    assert isinstance(provider, FakeProvider)
    assert env is ENV


async def test_a_census_with_its_own_sketch_keeps_it() -> None:
    own = LatencySketch.of([9.0])
    provider, _ = built("k8s", WorkerCensus(running=2, schedule_to_start=own))
    assert (await provider.census()).schedule_to_start == own


async def test_a_group_before_any_push_reports_an_empty_sketch() -> None:
    pushed = PushedSketches(FakeReports())
    assert await pushed.total(ReportSubject("other/v1", "g")) == LatencySketch()


async def test_the_store_is_read_once_per_refresh_for_every_group() -> None:
    reports, now = FakeReports(), [0.0]
    pushed = PushedSketches(reports, refresh_s=2.0, clock=lambda: now[0])
    for _ in range(5):
        await pushed.total(SUBJECT)
        await pushed.total(ReportSubject("other/v1", "g"))
    assert reports.totals_read == 1
    now[0] = 2.5
    await pushed.total(SUBJECT)
    assert reports.totals_read == 2


def test_kubernetes_and_lambda_workers_receive_the_token_as_a_secret() -> None:
    env = WorkerEnvironment(
        address="t:7233", namespace="default", task_queues=("q",),
        secret_env={"TEMPORAL_API_KEY": "k", REPORT_TOKEN_ENV: "wpr_x"},
        extra_env={REPORT_URL_ENV: "http://api/v1/worker-reports"},
    )  # fmt: skip
    with_user_credentials = ManagedDeploymentSpec(
        image="w:1", credentials=CredentialsRef(secret="mine", api_key_key="key")
    )
    assert own_secret_env(with_user_credentials, env) == {REPORT_TOKEN_ENV: "wpr_x"}
    event = build_event(env, deployment="d", group_id="g", invocation_id="i")
    variables = event["workerplane"]["env"]
    assert variables[REPORT_TOKEN_ENV] == "wpr_x"
    assert variables[REPORT_URL_ENV] == "http://api/v1/worker-reports"
    assert "TEMPORAL_API_KEY" not in variables


def test_a_lambda_group_gets_the_controllers_worker_reads_through_the_pushing_factory() -> None:
    """Its census reads its handlers through the controller (``controller.worker_reads``); the
    report wiring passes the reads on, and gives none to a type that was not given any."""
    seen: dict[str, Any] = {}

    def build(type_name: str, details: Mapping[str, Any], **kw: Any) -> Provider:
        seen[type_name] = kw
        return FakeProvider(kw["worker_env"], ONE_WORKER)

    factory = reporting_providers("http://api:8233/", BOX, PushedSketches(FakeReports()), build)
    reads = object()
    for type_name, given in (("aws-lambda", reads), ("webhook", None)):
        extras = {"worker_reads": given} if given is not None else {}
        factory(
            type_name, {}, deployment=SUBJECT.version_key, group_id=SUBJECT.group_id,
            worker_env=ENV, state_dir=Path("."), **extras,
        )  # fmt: skip
    assert seen["aws-lambda"]["worker_reads"] is reads
    assert "worker_reads" not in seen["webhook"]
