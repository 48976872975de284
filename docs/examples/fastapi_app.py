"""A FastAPI app that hands slow work to taskq workers and awaits results
with taskq.aio: a request waiting for a report holds no Redis connection
(every wait of the process is pushed through one pub/sub connection).

Run it from this folder (pip install taskq fastapi uvicorn):

    uvicorn fastapi_app:app                 # the web process
    taskq worker reports                    # a worker: imports fastapi_app:build_report

    curl -X POST localhost:8000/reports -H 'content-type: application/json' -d '{"n": 4}'
        201 {"id": "reports:...", "status": "queued"}
    curl localhost:8000/reports/<id>
        200 {"id": ..., "status": "completed", "error": null, ...}
    curl 'localhost:8000/reports/<id>/result?timeout=10'
        200 {"id": ..., "status": "completed", "result": {...}}
        202 not done within the timeout: ask again
        404 no such report
        409 the report failed or was cancelled: {"status": "failed", "error": "..."}

REDIS_URL (default redis://127.0.0.1:6379/0) and TASKQ_PREFIX are read as
the worker reads them. Tests, or an app of your own, give a client and a
prefix to ``create_app``.
"""

from __future__ import annotations

import asyncio
import os
from contextlib import asynccontextmanager

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

import taskq.aio
from taskq import TaskCancelled, TaskFailed, TaskNotFound, WaitTimeout
from taskq.aio.connection import async_client_from_url

QUEUE = "reports"
MAX_WAIT = 30.0
"""Seconds a request may wait for a result at most."""


async def build_report(n: int) -> dict:
    """The slow part, run by a worker (an async def: on the worker's event
    loop, beside many others; a plain def would run on its threads)."""
    await asyncio.sleep(0.01)  # stands for the I/O a real report awaits
    if n < 0:
        raise ValueError(f"no report of {n} rows")
    rows = [{"row": i, "square": i * i} for i in range(n)]
    return {"rows": rows, "total": sum(r["square"] for r in rows)}


class ReportRequest(BaseModel):
    n: int


def create_app(redis=None, prefix: str | None = None) -> FastAPI:
    """The app. ``redis``: a ``redis.asyncio`` client (default: one for
    $REDIS_URL, made at startup and closed at shutdown); ``prefix``: taskq's
    key prefix (default: $TASKQ_PREFIX, else taskq's own)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        client = redis
        if client is None:
            client = async_client_from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
        app.state.reports = taskq.aio.Queue(QUEUE, redis=client,
                                            prefix=prefix or os.environ.get("TASKQ_PREFIX"))
        try:
            yield
        finally:
            if redis is None:
                await client.aclose()

    app = FastAPI(title="reports", lifespan=lifespan)

    def reports(request: Request) -> taskq.aio.Queue:
        return request.app.state.reports

    @app.post("/reports", status_code=201)
    async def create_report(body: ReportRequest, request: Request) -> dict:
        # max_retries=0: a report that failed once would fail again
        task = await reports(request).enqueue(build_report, body.n, max_retries=0)
        return {"id": task.id, "status": task.status}

    @app.get("/reports/{report_id}")
    async def report_status(report_id: str, request: Request) -> dict:
        task = await reports(request).get(report_id)
        if task is None:
            raise HTTPException(404, f"no report {report_id}")
        return {"id": task.id, "status": task.status, "error": task.error,
                "created_at": task.created_at, "finished_at": task.finished_at}

    @app.get("/reports/{report_id}/result")
    async def report_result(report_id: str, request: Request,
                            timeout: float = Query(10.0, ge=0, le=MAX_WAIT)):
        q = reports(request)
        try:
            result = await q.result(report_id, timeout)
        except TaskNotFound:  # never enqueued, deleted, or removed by retention
            raise HTTPException(404, f"no report {report_id}") from None
        except WaitTimeout:
            task = await q.get(report_id)
            return JSONResponse({"id": report_id, "status": task.status if task else "unknown"},
                                status_code=202, headers={"Retry-After": "1"})
        except (TaskFailed, TaskCancelled) as exc:
            return JSONResponse({"id": report_id, "status": exc.task.status, "error": exc.error},
                                status_code=409)
        return {"id": report_id, "status": "completed", "result": result}

    return app


app = create_app()
