"""The docs' async Flask view (docs/python/asyncio.md), as written: Flask runs each async view on
an event loop of its own, so each request's taskq.aio.Queue gets that
loop's client, and request after request enqueues and awaits its result."""

from __future__ import annotations

import threading

import pytest

pytest.importorskip("asgiref")

from flask import Flask  # noqa: E402

from taskq.aio import Queue  # noqa: E402
from tests.aio_run import in_thread  # noqa: E402
from workers.pool import PoolWorker  # noqa: E402


def make_app(prefix: str) -> Flask:
    app = Flask(__name__)

    @app.post("/double/<int:n>")
    async def double(n):
        q = Queue("images", prefix=prefix)  # this request's loop: its own client
        task = await q.enqueue("operator:mul", n, 2)
        return {"id": task.id, "result": await task.wait(timeout=20)}

    return app


def test_request_after_request_enqueues_and_awaits(r, prefix, redis_url, monkeypatch):
    monkeypatch.setenv("REDIS_URL", redis_url)
    worker = PoolWorker(r, ["images"], prefix=prefix)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        client = make_app(prefix).test_client()
        for n in range(5):  # a thread with no loop of a test before running (tests/aio_run.py)
            reply = in_thread(lambda: client.post(f"/double/{n}"))
            assert reply.status_code == 200, reply.get_data(as_text=True)
            assert reply.get_json()["result"] == 2 * n
    finally:
        worker.request_stop()
        thread.join(30)
