"""Objects taskq hands out are shared between threads (a web process's
threads share one cached Queue; a program shares its Queue, its task
functions, its handler registry): threads racing on one instance must each
get what they would alone."""

from __future__ import annotations

import threading

import pytest

from taskq import Queue, task
from taskq.workflows import Registry

from redis_clients import client_from_url

THREADS = 300
EACH = 3


def race(n: int, work) -> list[BaseException]:
    """Run ``work(i)`` in n threads released together; the errors they raised."""
    start = threading.Barrier(n)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        start.wait()
        try:
            work(i)
        except BaseException as exc:  # collected, the test reports them
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads), "a racing thread hung"
    return errors


@pytest.fixture
def wide(redis_url):
    """A client whose pool lets every racing thread hold a connection."""
    client = client_from_url(redis_url, max_connections=THREADS + 20)
    yield client
    client.close()


def test_threads_enqueueing_through_one_fresh_queue_each_get_their_task(wide, r, prefix):
    # A fresh Queue: its first enqueues also register the queue name, which
    # is when a flag read twice per call used to mix up the replies.
    q = Queue("shared", redis=wide, prefix=prefix)
    made: list[str] = []

    def work(i: int) -> None:
        for j in range(EACH):
            t = q.enqueue("f", i, j, task_id=f"shared:t{i}-{j}")
            assert t.id == f"shared:t{i}-{j}" and t.status == "queued"
            made.append(t.id)

    assert race(THREADS, work) == []
    assert len(made) == len(set(made)) == THREADS * EACH
    assert q.count() == THREADS * EACH
    assert r.sismember(q.keys.queues, "shared")


def test_threads_enqueueing_batches_through_one_queue(r, prefix):
    q = Queue("batches", redis=r, prefix=prefix)

    def work(i: int) -> None:
        tasks = q.enqueue_many([{"func": "f", "args": [i, j]} for j in range(5)])
        assert [t.args for t in tasks] == [[i, j] for j in range(5)]

    assert race(100, work) == []
    assert q.count() == 500


def test_a_task_function_shared_by_threads_enqueues_each_call_once(r, prefix, monkeypatch):
    monkeypatch.setenv("TASKQ_PREFIX", prefix)

    @task(queue=Queue("fn", redis=r, prefix=prefix))
    def add(a, b):
        return a + b

    assert race(100, lambda i: add.enqueue(i, 1)) == []
    assert add.queue.count() == 100


def test_a_registry_read_while_threads_register_handlers(r):
    reg = Registry()
    stop = threading.Event()
    read_errors: list[BaseException] = []

    def read() -> None:
        while not stop.is_set():
            try:
                reg.handlers()
                reg.versions("ns", "h")
                reg.get("ns", "h")
            except BaseException as exc:
                read_errors.append(exc)
                return

    readers = [threading.Thread(target=read, daemon=True) for _ in range(4)]
    for t in readers:
        t.start()

    def work(i: int) -> None:
        reg.register({"namespace": "ns", "name": "h", "version": f"1.{i}.0",
                      "step_templates": [{"name": "a", "handler_class": "m.A"}]})

    try:
        assert race(200, work) == []
    finally:
        stop.set()
        for t in readers:
            t.join(10)
    assert read_errors == []
    assert len(reg.versions("ns", "h")) == 200
    assert reg.get("ns", "h").version == "1.199.0"
