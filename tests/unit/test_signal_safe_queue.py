"""The worker's main loop and Task.wait wait on a SignalSafeQueue: a signal
handler running past the wait's deadline must not make the wait endless (as
it does with a C queue.SimpleQueue: a SIGTERM, then a second one for a cold
stop, left a worker waiting for a task that never finished)."""
import queue
import signal
import threading
import time

import pytest

from taskq.signal_safe_queue import SignalSafeQueue


@pytest.fixture
def slow_alarm():
    """Arms a SIGALRM 10 ms ahead whose handler takes 0.6 s (main thread
    only); returns the times the handler started."""
    ran = []

    def handler(_signum, _frame):
        ran.append(time.monotonic())
        time.sleep(0.6)
    old = signal.signal(signal.SIGALRM, handler)
    try:
        yield lambda: (signal.setitimer(signal.ITIMER_REAL, 0.01), ran)[1]
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def test_a_handler_past_the_deadline_ends_the_wait(slow_alarm):
    q = SignalSafeQueue()
    rescue = threading.Timer(30, lambda: q.put("put 30 s later"))  # the hang, bounded
    rescue.start()
    try:
        ran = slow_alarm()
        started = time.monotonic()
        with pytest.raises(queue.Empty):
            q.get(timeout=0.5)
        # the handler ran inside the wait and past its deadline (a late signal proves nothing)
        assert ran and ran[0] - started < 0.5
    finally:
        rescue.cancel()


def test_items_come_in_order_and_a_put_ends_a_wait():
    q = SignalSafeQueue()
    assert q.empty()
    with pytest.raises(queue.Empty):
        q.get_nowait()
    with pytest.raises(queue.Empty):
        q.get(timeout=0)
    q.put(1)
    q.put(2)
    assert not q.empty()
    assert q.get(timeout=0) == 1
    assert q.get_nowait() == 2
    threading.Timer(0.05, lambda: q.put(3)).start()
    assert q.get(timeout=30) == 3


def test_many_producers_lose_nothing():
    q = SignalSafeQueue()

    def produce(base):
        for i in range(2000):
            q.put(base + i)

    threads = [threading.Thread(target=produce, args=(k * 10_000,)) for k in range(4)]
    for t in threads:
        t.start()
    got = []
    while len(got) < 8000:
        got.append(q.get(timeout=30))
    for t in threads:
        t.join()
    assert sorted(got) == sorted(k * 10_000 + i for k in range(4) for i in range(2000))
    assert q.empty()
