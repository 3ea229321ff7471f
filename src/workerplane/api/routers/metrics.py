"""``GET /metrics``: the process's Prometheus metrics (gauges per group, cycle counters and
histograms), without a token, like the health routes.

Prometheus scrapers carry no bearer token by default, and the exposition holds no secret: names
of versions and groups, and numbers. Who may reach it is the listen address's business (``serve
--host``), as for ``/readyz``. ``workerplane serve`` mounts it; an app built without metrics
(tests) has no such route.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from workerplane.controller.prometheus import ProcessMetrics

router = APIRouter(tags=["metrics"])


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    process_metrics: ProcessMetrics = request.app.state.metrics
    # Off the event loop: the collector reads statuses under a lock shared with other threads.
    body, content_type = await run_in_threadpool(process_metrics.exposition)
    return Response(content=body, media_type=content_type)


def mount_metrics(app: FastAPI, process_metrics: ProcessMetrics) -> None:
    """Serve ``process_metrics`` at ``/metrics`` on ``app``."""
    app.state.metrics = process_metrics
    app.include_router(router)
