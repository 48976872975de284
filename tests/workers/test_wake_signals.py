"""A worker's main thread waits in select() on its BLPOPs and its interrupt
pipe, which is also the process's signal wakeup fd. A SIGTERM the kernel
hands to another thread then ends the wait at once, so the handler runs
before a second signal could be merged with it; without the wakeup fd the
main thread slept on until its BLPOP timed out."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

CHILD = textwrap.dedent("""
    import os, signal, sys, threading, time
    from taskq.connection import client_from_url
    from workers.wake import Wake

    url, key = sys.argv[1], sys.argv[2]
    wake = Wake(client_from_url(url), [key], block=30.0)  # a BLPOP of 30 s
    stopped = []

    def handler(signum, frame):
        stopped.append(time.monotonic())
        wake.interrupt()  # as PoolWorker.request_stop does

    signal.signal(signal.SIGUSR1, handler)
    helper = threading.Thread(target=time.sleep, args=(120,), daemon=True)
    helper.start()  # it keeps SIGUSR1 unblocked: the kernel hands the signal to it
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
    print("waiting", flush=True)
    started = time.monotonic()
    wake.wait_for(60.0, done=lambda: bool(stopped))
    took = time.monotonic() - started
    wake.close(pipe=True)
    assert signal.set_wakeup_fd(-1) == -1  # the old wakeup fd is back
    print(f"ended {took:.3f} handled={bool(stopped)}", flush=True)
""")


def test_a_signal_taken_by_another_thread_ends_the_main_threads_wait(redis_url, prefix):
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]))
    child = subprocess.Popen([sys.executable, "-c", CHILD, redis_url, f"{prefix}:wake-signal"],
                             stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert child.stdout.readline().strip() == "waiting"
        time.sleep(0.2)  # inside select() by now (sent earlier, the test only ends sooner)
        sent = time.monotonic()
        child.send_signal(signal.SIGUSR1)
        line = child.stdout.readline().strip()
        # ended by the signal, well before the BLPOP's 30 s (a busy machine adds seconds at most)
        assert line.startswith("ended") and line.endswith("handled=True"), line
        assert time.monotonic() - sent < 15, line
        assert child.wait(timeout=30) == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
