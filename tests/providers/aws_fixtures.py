"""A real ``moto`` server (an AWS emulator) on loopback, seeded for the provider tests.

moto emulates the control-plane APIs (Lambda GetFunction, STS AssumeRole, ECS DescribeServices and
UpdateService, IAM). It cannot run Lambda handlers without Docker, so invocations are tested against
serverless-offline instead. After seeding, the server is switched to IAM enforcement
(``/moto-api/reset-auth``), so calls signed with a user's keys are checked against that user's
policies: that is what makes the access-denied paths real.

moto's IAM enforcement cannot verify the SigV4 signature of Lambda's REST calls (it answers
``SignatureDoesNotMatch`` to every signed GetFunction), so Lambda's GetFunction runs against a
second moto server without enforcement (``lambda_endpoint``); the Lambda provider's access-denied
path is then exercised through STS AssumeRole on the enforcing server.
"""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import httpx
import pytest

REGION = "us-east-1"
ROOT_KEYS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@dataclass(frozen=True)
class Keys:
    access_key_id: str
    secret_access_key: str

    def details(self) -> dict[str, str]:
        return {
            "aws_access_key_id": self.access_key_id,
            "aws_secret_access_key": self.secret_access_key,
        }


@dataclass(frozen=True)
class MotoWorld:
    endpoint: str
    lambda_endpoint: str
    function_arn: str
    role_arn: str
    cluster: str
    service: str
    inactive_service: str
    admin: Keys
    limited: Keys


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return {}\n")
    return buffer.getvalue()


def _user(iam: object, name: str, policy: dict[str, object]) -> Keys:
    iam.create_user(UserName=name)  # type: ignore[attr-defined]
    iam.put_user_policy(  # type: ignore[attr-defined]
        UserName=name, PolicyName="p", PolicyDocument=json.dumps(policy)
    )
    key = iam.create_access_key(UserName=name)["AccessKey"]  # type: ignore[attr-defined]
    return Keys(key["AccessKeyId"], key["SecretAccessKey"])


def _start_moto(log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = {**os.environ, "MOTO_PORT": str(port)}
    with Path(log).open("wb") as out:
        proc = subprocess.Popen(
            [
                str(Path(os.sys.executable).parent / "moto_server"),
                "-H",
                "127.0.0.1",
                "-p",
                str(port),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(f"{endpoint}/moto-api/", timeout=1.0)
            break
        except httpx.HTTPError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError(
                    f"moto server did not start: {log.read_text()[-2000:]}"
                ) from None
            time.sleep(0.2)
    return proc, endpoint


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="module")
def moto_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoWorld]:
    base = tmp_path_factory.mktemp("moto")
    proc, endpoint = _start_moto(base / "moto.log")
    open_proc, lambda_endpoint = _start_moto(base / "moto-open.log")
    try:
        session = boto3.Session(region_name=REGION, **ROOT_KEYS)
        iam = session.client("iam", endpoint_url=endpoint)
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}
            ],
        }
        role_arn = iam.create_role(
            RoleName="worker-invoker", AssumeRolePolicyDocument=json.dumps(trust)
        )["Role"]["Arn"]
        iam.put_role_policy(
            RoleName="worker-invoker",
            PolicyName="scale",
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
                }
            ),
        )
        open_iam = session.client("iam", endpoint_url=lambda_endpoint)
        open_role = open_iam.create_role(
            RoleName="worker-invoker", AssumeRolePolicyDocument=json.dumps(trust)
        )["Role"]["Arn"]
        awslambda = session.client("lambda", endpoint_url=lambda_endpoint)
        function_arn = awslambda.create_function(
            FunctionName="temporal-worker",
            Runtime="python3.11",
            Role=open_role,
            Handler="handler.handler",
            Code={"ZipFile": _zip()},
            Timeout=120,
        )["FunctionArn"]
        ecs = session.client("ecs", endpoint_url=endpoint)
        ecs.create_cluster(clusterName="workers")
        ecs.register_task_definition(
            family="worker",
            containerDefinitions=[{"name": "worker", "image": "worker:latest", "memory": 256}],
        )
        ecs.create_service(
            cluster="workers",
            serviceName="temporal-worker",
            taskDefinition="worker",
            desiredCount=0,
        )
        ecs.create_service(
            cluster="workers", serviceName="retired", taskDefinition="worker", desiredCount=0
        )
        ecs.delete_service(cluster="workers", service="retired", force=True)
        admin = _user(
            iam,
            "admin",
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
            },
        )
        limited = _user(
            iam,
            "limited",
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*"}],
            },
        )
        # From here on every request is authenticated and authorized against IAM.
        httpx.post(f"{endpoint}/moto-api/reset-auth", content=b"0").raise_for_status()
        yield MotoWorld(
            endpoint=endpoint,
            lambda_endpoint=lambda_endpoint,
            function_arn=function_arn,
            role_arn=role_arn,
            cluster="workers",
            service="temporal-worker",
            inactive_service="retired",
            admin=admin,
            limited=limited,
        )
    finally:
        _stop(proc)
        _stop(open_proc)
