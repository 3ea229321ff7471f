"""``type: aws-lambda``: each scale-up invokes the function asynchronously (``Event``)."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field

from workerplane.providers.aws.access import AwsAccess

_LAMBDA_ARN = re.compile(
    r"^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9_-]+(:[\w$-]+)?$"
)


def _lambda_function(value: str) -> str:
    # A full ARN as Temporal requires, or a bare function name (what local emulators expose).
    if value.startswith("arn:"):
        if not _LAMBDA_ARN.match(value):
            raise ValueError(
                "must be a Lambda function ARN "
                "(arn:aws:lambda:<region>:<account>:function:<name>) or a function name"
            )
    elif not re.fullmatch(r"[A-Za-z0-9_-]{1,140}", value):
        raise ValueError("must be a Lambda function ARN or a function name")
    return value


class LambdaDetails(AwsAccess):
    """The function to invoke, how many may run, and how the worker gets its credentials."""

    arn: Annotated[str, AfterValidator(_lambda_function)]
    """The function: Temporal's key; a full ARN, or a bare name for local emulators."""
    max_concurrency: int | None = Field(default=None, ge=1, le=100_000)
    """At most this many invocations counted as running for this group."""
    slots: int | None = Field(default=None, ge=1, le=10_000)
    """Activity slots each invocation's worker runs (the handler's ``max_concurrent_activities``,
    e.g. ``WORKERPLANE_SLOTS`` in the example). Reported in the census, so that scalers plan the
    capacity an invoke really adds; unset, they learn it from what runs."""
    worker_ttl_s: float | None = Field(default=None, gt=0, le=86_400)
    """How long an invoked worker is counted as running; the function's timeout when unset."""
    start_grace_s: float | None = Field(default=None, gt=0, le=86_400)
    """How long an invocation whose worker has not polled yet counts as running (its cold start:
    the sandbox boots, imports and connects); unset, its whole TTL, so that slow cold starts
    are never taken for gone and doubled."""
    poll_gap_s: float = Field(default=10.0, gt=0, le=900)
    """An invocation whose worker has started no poll for this long counts as returned. Above the
    handler's ``idle_exit_s``; raise it when activities hold every slot for longer (a full worker
    is otherwise counted as gone while it serves no backlog)."""
    include_secrets: bool = False
    """Put the Temporal API key / TLS data in the invocation event (off: the function has its
    own)."""
    check_function: bool = True
    """Call ``GetFunction`` when validating; turn off for emulators that serve only the Invoke
    API (serverless-offline)."""

    @property
    def effective_region(self) -> str | None:
        """``region``, else the function's own region (from its ARN), else the SDK's default."""
        if self.region:
            return self.region
        if self.arn.startswith("arn:"):
            # arn:aws:lambda:<region>:<account>:function:<name>
            return self.arn.split(":")[3]
        return None
