"""Huey's side of scripts/bench_peers.py. Runs in the benchmark's Huey
virtualenv (bench_peers.huey_python), so it imports huey and redis only.

    python bench_huey.py enqueue N      N tasks enqueued one at a time;
                                        prints {"rate": tasks/s}
    python bench_huey.py result N       with a consumer running
                                        (``huey_consumer bench_huey.huey``):
                                        N samples, random 0-20 ms gaps, each
                                        the milliseconds from calling the task
                                        to its result in hand; prints {"ms": [...]}

The Redis URL comes in BENCH_REDIS_URL, the queue name in BENCH_HUEY_NAME.
Huey is set up at its fastest for this: RedisHuey with notify_result=True
(a result wakes its waiter by BLPOP instead of a polling get).
"""

import json
import os
import random
import sys
import time

from huey import RedisHuey

huey = RedisHuey(os.environ.get("BENCH_HUEY_NAME", "taskq-bench"),
                 url=os.environ.get("BENCH_REDIS_URL"), notify_result=True)


@huey.task()
def noop():
    return 1  # Huey stores no None result (store_none=False), so nothing would come back


def main() -> int:
    mode, n = sys.argv[1], int(sys.argv[2])
    if mode == "enqueue":
        t = time.perf_counter()
        for _ in range(n):
            noop()
        print(json.dumps({"rate": n / (time.perf_counter() - t)}))
    elif mode == "result":
        noop().get(blocking=True, timeout=30)  # the consumer is up and warm
        out = []
        for _ in range(n):
            time.sleep(random.random() * 0.02)
            t = time.perf_counter()
            noop().get(blocking=True, timeout=10)
            out.append((time.perf_counter() - t) * 1000)
        print(json.dumps({"ms": out}))
    else:
        print(f"unknown mode {mode}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # run as bench_huey, so the task's name is the consumer's
    import bench_huey
    sys.exit(bench_huey.main())
