"""How an AWS provider reaches AWS: shared by ``aws-lambda`` and ``aws-ecs`` (pure: pydantic only).

``role`` and ``role_external_id`` are Temporal's keys (Temporal's server requires both;
workerplane does not, so that local emulators work without IAM). Static keys are for emulators
and tests; in production prefer the ambient credentials plus ``role``.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field, model_validator

from workerplane.config.secret_field import Secret
from workerplane.providers.fields import HttpUrl, ProviderDetails

_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$")
_AWS_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
#: What STS accepts as a RoleSessionName: [\w+=,.@-]{2,64}.
_SESSION_NAME_CHARS = frozenset("+=,.@-_")


def _role_arn(value: str) -> str:
    if not _ROLE_ARN.match(value):
        raise ValueError("must be an IAM role ARN (arn:aws:iam::<account>:role/<name>)")
    return value


def _aws_region(value: str) -> str:
    if not _AWS_REGION.match(value):
        raise ValueError("must be an AWS region such as us-east-1")
    return value


RoleArn = Annotated[str, AfterValidator(_role_arn)]
AwsRegion = Annotated[str, AfterValidator(_aws_region)]


class AwsAccess(ProviderDetails):
    """Region, endpoint, credentials and the role to assume.

    Credentials default to boto3's chain. ``role`` is assumed with ``role_external_id`` (the
    confused-deputy guard of cross-account roles) and refreshed before it expires.
    """

    region: AwsRegion | None = None
    """Defaults to the region in a Lambda ARN, then to the AWS SDK's default region."""
    endpoint_url: HttpUrl | None = None
    """A custom AWS endpoint (a local emulator, moto)."""
    role: RoleArn | None = None
    """IAM role to assume before every call."""
    role_external_id: Secret | None = None
    """``ExternalId`` for ``sts:AssumeRole`` (the trust policy's confused-deputy guard)."""
    aws_access_key_id: Secret | None = None
    aws_secret_access_key: Secret | None = None
    aws_session_token: Secret | None = None
    max_attempts: int = Field(default=6, ge=1, le=100)
    """Tries per AWS call, the first included (throttling and 5xx are retried with backoff)."""

    @model_validator(mode="after")
    def _pairs(self) -> AwsAccess:
        if self.role_external_id is not None and self.role is None:
            raise ValueError("role_external_id requires role")
        if (self.aws_access_key_id is None) != (self.aws_secret_access_key is None):
            raise ValueError("aws_access_key_id and aws_secret_access_key must be set together")
        if self.aws_session_token is not None and self.aws_access_key_id is None:
            raise ValueError("aws_session_token requires aws_access_key_id")
        return self

    @property
    def effective_region(self) -> str | None:
        """The region calls go to: ``region``, else the SDK's default (``None``)."""
        return self.region


def session_name(deployment: str) -> str:
    """The ``RoleSessionName`` for a deployment's calls (shows up in CloudTrail)."""
    name = "".join(
        c if c.isalnum() or c in _SESSION_NAME_CHARS else "-" for c in f"workerplane-{deployment}"
    )
    return name[:64] or "workerplane"
