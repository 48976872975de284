"""The no-op job of scripts/bench_rq.py, in a module that imports nothing:
a forking worker imports a job's module in every horse, and a heavier one
(bench_worker imports taskq) would be timed as that import, not as the
worker's own cost."""


def noop() -> None:
    return None
