"""docs/examples/fastapi_app.py, driven over ASGI (httpx.ASGITransport, the
app's lifespan run by its router) while a PoolWorker, in a thread, runs
its reports: enqueue -> result, an unknown id, a report not ready in time,
a failed report, and many requests awaiting at once."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import threading
from pathlib import Path

import httpx
import pytest

from tests.aio_run import run as run_async  # noqa: E402

from taskq import Keys
from taskq.aio.connection import async_client_from_url
from workers.pool import PoolWorker

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"


@pytest.fixture
def example(monkeypatch, redis_url):
    """The example module, imported as a worker imports it (fastapi_app)."""
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.syspath_prepend(str(EXAMPLES))
    return importlib.import_module("fastapi_app")


@contextlib.asynccontextmanager
async def serving(example, redis_url: str, prefix: str):
    """An HTTP client of the app, its lifespan started, on the test's Redis and prefix."""
    redis = async_client_from_url(redis_url)
    app = example.create_app(redis=redis, prefix=prefix)
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
                yield http
    finally:
        await redis.aclose()


@contextlib.contextmanager
def worker(r, prefix: str, queue: str = "reports"):
    w = PoolWorker(r, [queue], concurrency=4, prefix=prefix)
    th = threading.Thread(target=w.run, daemon=True, name="fastapi-example-worker")
    th.start()
    try:
        yield w
    finally:
        w.request_stop()
        r.lpush(Keys(prefix).queue(queue).wake, "1")  # unblock it promptly
        th.join(30)
    assert not th.is_alive(), "the worker did not stop"


def expected(n: int) -> dict:
    rows = [{"row": i, "square": i * i} for i in range(n)]
    return {"rows": rows, "total": sum(i * i for i in range(n))}


def test_a_report_is_enqueued_built_by_a_worker_and_its_result_awaited(example, r, redis_url, prefix):
    async def body():
        async with serving(example, redis_url, prefix) as http:
            created = await http.post("/reports", json={"n": 4})
            assert created.status_code == 201, created.text
            report_id = created.json()["id"]
            assert report_id.startswith("reports:") and created.json()["status"] == "queued"
            status = await http.get(f"/reports/{report_id}")
            assert status.status_code == 200 and status.json()["status"] == "queued"
            stored = r.hget(Keys(prefix).queue("reports").task(report_id), "func")
            assert stored == "fastapi_app:build_report"  # the name the worker imports
            with worker(r, prefix):
                got = await http.get(f"/reports/{report_id}/result", params={"timeout": 20})
            assert got.status_code == 200, got.text
            assert got.json() == {"id": report_id, "status": "completed", "result": expected(4)}
            status = (await http.get(f"/reports/{report_id}")).json()
            assert status["status"] == "completed" and status["error"] is None
            assert status["finished_at"] is not None
            again = await http.get(f"/reports/{report_id}/result", params={"timeout": 0})
            assert again.status_code == 200 and again.json()["result"] == expected(4)

    run_async(body())


def test_an_unknown_report_is_404(example, r, redis_url, prefix):
    async def body():
        async with serving(example, redis_url, prefix) as http:
            for report_id in ("reports:nosuchreport", "elsewhere:abc", "no-colon"):
                assert (await http.get(f"/reports/{report_id}")).status_code == 404
                got = await http.get(f"/reports/{report_id}/result", params={"timeout": 5})
                assert got.status_code == 404, got.text
            assert (await http.post("/reports", json={"n": "many"})).status_code == 422
            too_long = await http.get("/reports/reports:x/result", params={"timeout": 3600})
            assert too_long.status_code == 422

    run_async(body())


def test_a_report_not_ready_in_time_is_202_then_200_once_a_worker_runs(example, r, redis_url, prefix):
    async def body():
        async with serving(example, redis_url, prefix) as http:
            report_id = (await http.post("/reports", json={"n": 2})).json()["id"]
            late = await http.get(f"/reports/{report_id}/result", params={"timeout": 0.2})
            assert late.status_code == 202, late.text
            assert late.json() == {"id": report_id, "status": "queued"}
            assert late.headers["retry-after"] == "1"
            now = await http.get(f"/reports/{report_id}/result", params={"timeout": 0})
            assert now.status_code == 202
            with worker(r, prefix):
                got = await http.get(f"/reports/{report_id}/result", params={"timeout": 20})
            assert got.status_code == 200 and got.json()["result"] == expected(2)

    run_async(body())


def test_a_failed_report_is_409_with_its_error(example, r, redis_url, prefix):
    async def body():
        async with serving(example, redis_url, prefix) as http:
            report_id = (await http.post("/reports", json={"n": -3})).json()["id"]
            with worker(r, prefix):
                got = await http.get(f"/reports/{report_id}/result", params={"timeout": 20})
            assert got.status_code == 409, got.text
            answer = got.json()
            assert answer["id"] == report_id and answer["status"] == "failed"
            assert "no report of -3 rows" in answer["error"]
            status = (await http.get(f"/reports/{report_id}")).json()
            assert status["status"] == "failed" and "no report of -3 rows" in status["error"]

    run_async(body())


def test_many_requests_await_their_reports_at_once(example, r, redis_url, prefix):
    async def body():
        async with serving(example, redis_url, prefix) as http:
            posted = await asyncio.gather(*(http.post("/reports", json={"n": n}) for n in range(40)))
            ids = [p.json()["id"] for p in posted]
            results = asyncio.gather(*(http.get(f"/reports/{i}/result", params={"timeout": 25})
                                       for i in ids))
            with worker(r, prefix):
                got = await results
            assert [g.status_code for g in got] == [200] * 40
            assert [g.json()["result"] for g in got] == [expected(n) for n in range(40)]

    run_async(body())
