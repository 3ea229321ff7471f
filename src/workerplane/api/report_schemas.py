"""The body a worker pushes to ``POST /v1/worker-reports``, and the answer.

Bounded: a sketch with 2 % accuracy spans 1 ms to a day in under 500 buckets, so
:data:`MAX_BUCKETS` leaves room and caps what one push may store.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints, field_validator

from workerplane.api.schemas import RequestModel
from workerplane.scaling.latency import LatencySketch

#: Buckets a pushed sketch may hold.
MAX_BUCKETS = 1000
#: Bucket indexes a pushed sketch may use: 1 ms is about -175, a week about 400.
BUCKET_RANGE = (-200, 1000)
#: The largest body accepted (bytes), checked before parsing.
MAX_BODY_BYTES = 64 * 1024

WorkerName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$")]


class SketchIn(RequestModel):
    """A latency sketch in its wire form (:meth:`LatencySketch.to_wire`)."""

    b: dict[str, Annotated[int, Field(ge=1, le=2**53)]] = Field(
        default_factory=dict,
        max_length=MAX_BUCKETS,
        description="Counts by bucket index (a decimal integer).",
    )
    u: int = Field(0, ge=0, le=2**53, description="Latencies under 1 ms.")
    s: float = Field(0.0, ge=0, le=2**53, description="The sum of every latency (seconds).")

    @field_validator("b")
    @classmethod
    def _bucket_indexes(cls, value: dict[str, int]) -> dict[str, int]:
        low, high = BUCKET_RANGE
        for key in value:
            try:
                index = int(key)
            except ValueError:
                raise ValueError(f"bucket index '{key[:20]}' is not an integer") from None
            if not low <= index <= high:
                raise ValueError(f"bucket index {index} is outside {low}..{high}")
        return value

    def sketch(self) -> LatencySketch:
        return LatencySketch.from_wire(self.model_dump())


class WorkerReportIn(RequestModel):
    """What one worker measured since it started."""

    worker: WorkerName = Field(
        description="The worker's identity, unique per process (a new process, a new name)."
    )
    sequence: int = Field(
        ge=0,
        le=2**53,
        description="Grows with each push of this worker; a push whose sequence was already "
        "kept (a retry) changes nothing.",
    )
    schedule_to_start: SketchIn = Field(
        description="Every schedule-to-start the worker measured since it started."
    )


class WorkerReportAccepted(BaseModel):
    accepted: bool = Field(
        description="False when a push with this sequence or a later one was already kept."
    )


class ReportTokenOut(BaseModel):
    """What a worker that workerplane does not start needs to push its measurements."""

    token: str = Field(description="The group's report token: give it to the workers as a secret.")
    path: str = Field(description="The route to push to, under the API's URL.")
    token_env: str = Field(description="The variable the workers read the token from.")
    url_env: str = Field(description="The variable the workers read the full URL from.")
