"""The Tasker document's analytics reports, computed from the hourly stats
(taskq.workflows.counters): nothing here reads a workflow.

Trend windows (1h, 4h, 24h) and the health score slide to the minute: a
window is the last N*60 minutes, from per-minute counters. Everything else
(task_statistics, processing_times, bottlenecks) is in whole epoch hours:
"N hours" is the current hour (so far) and the N-1 before it, because the
duration histograms and per-handler counters are kept per hour. Durations: averages are exact (summed ms / count);
percentiles come from the log-scale histogram, within 9.1 % (histogram.py).
A figure with nothing behind it is null (rates, durations, the score) or 0
(counts), never a default, and ``data_available`` says whether anything
finished in the window.

system_health_score (0-100, one decimal), over the last 24 hours of
finished workflows (sliding): 100 * completion_rate * (1 - 0.25 * retry_rate), where
completion_rate = complete / finished and retry_rate = (finished workflows
where a step needed more than one attempt) / finished. Null with none finished.
"""

from __future__ import annotations

import math
import time

from ..connection import as_taskq_client
from ..keys import DEFAULT_PREFIX, WorkflowKeys
from ..options import InvalidField
from . import histogram
from .counters import MAX_PERIOD_HOURS, Tally, hour_of, read, read_hours, total
from .handlers import NAME_RE, SEMVER_RE

TREND_WINDOWS = (1, 4, 24)
TOP = 10
"""Entries in each bottleneck list, at most."""
TIMEOUT_PRESSURE = 0.8
"""A step whose p95 reaches this share of its timeout gets a timeout recommendation."""
TIMEOUT_HEADROOM = 1.25
RETRY_RATE_ALERT = 0.1
"""A step retrying this share of its attempts, or more, gets a retry recommendation."""


def _hours(now: float | None, n: int) -> list[int]:
    current = hour_of(int((time.time() if now is None else now) * 1000))
    return list(range(current - n + 1, current + 1))


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _avg(t: Tally, count: str) -> int | None:
    return round(t["sum_ms"] / t[count]) if t[count] else None


def performance(redis, now: float | None = None, prefix: str | None = None) -> dict:
    """GET /tasker/analytics/performance. ``now``: epoch seconds (default: this host's clock)."""
    redis = as_taskq_client(redis)
    wk = WorkflowKeys(prefix or DEFAULT_PREFIX)
    longest = max(TREND_WINDOWS)
    hours = _hours(now, longest + 1)  # a sliding 24 h window reaches into a 25th clock hour
    parsed = read_hours(redis, wk, hours)
    minutes: dict[int, Tally] = {}
    for _, _, per_minute in parsed.values():
        minutes.update(per_minute)  # a minute lies in one hour's hash
    now_minute = int((time.time() if now is None else now) * 1000) // 60_000
    trends, windows = {}, {}
    for n in TREND_WINDOWS:
        t = windows[n] = total(m for minute, m in minutes.items()
                               if now_minute - n * 60 < minute <= now_minute)
        trends[f"{n}h"] = {"completion_rate": _ratio(t["complete"], t["finished"]),
                           "avg_duration_ms": _avg(t, "finished"), "finished": t["finished"]}
    sliding = windows[longest]
    score = None
    if sliding["finished"]:
        f = sliding["finished"]
        score = round(100 * (sliding["complete"] / f) * (1 - 0.25 * sliding["retried"] / f), 1)
    day = total(t for h in hours[-longest:] for t in parsed[h][0].values())
    finished = day["finished"]
    return {
        "system_health_score": score,
        "performance_trends": trends,
        "task_statistics": {"total_tasks": day["created"], "completed": day["complete"],
                            "failed": day["error"], "retried": day["retried"],
                            "cancelled": day["cancelled"]},
        "processing_times": {f"p{q}": histogram.percentile(day.hist, q / 100) for q in (50, 95, 99)},
        "window_hours": max(TREND_WINDOWS),
        "data_available": finished > 0,
    }


def check_period(period) -> int:
    if isinstance(period, bool) or not isinstance(period, int) or not 1 <= period <= MAX_PERIOD_HOURS:
        raise InvalidField("period", f"must be a whole number of hours from 1 to {MAX_PERIOD_HOURS}")
    return period


def check_scope(namespace, name, version) -> dict:
    """The given filters, checked as handler names are; {} when none."""
    scope = {}
    for field, value, pattern in (("namespace", namespace, NAME_RE), ("name", name, NAME_RE),
                                  ("version", version, SEMVER_RE)):
        if value is None:
            continue
        if not isinstance(value, str) or not pattern.match(value):
            raise InvalidField(field, f"is not a valid handler {field}")
        scope[field] = value
    return scope


def bottlenecks(redis, namespace: str | None = None, name: str | None = None,
                version: str | None = None, period_hours: int = 24, now: float | None = None,
                prefix: str | None = None) -> dict:
    """GET /tasker/analytics/bottlenecks over the last ``period_hours`` (1-168)."""
    redis = as_taskq_client(redis)
    period_hours = check_period(period_hours)
    scope = check_scope(namespace, name, version)
    wk = WorkflowKeys(prefix or DEFAULT_PREFIX)
    workflows, steps = read(redis, wk, _hours(now, period_hours))

    def inside(key) -> bool:
        return all(scope.get(f) in (None, v) for f, v in zip(("namespace", "name", "version"), key))

    workflows = {k: t for k, t in workflows.items() if inside(k) and t["finished"]}
    steps = {k: t for k, t in steps.items() if inside(k[:3]) and t["runs"]}
    slowest_tasks = sorted((
        {"task_name": nm, "namespace": ns, "version": ver, "avg_duration_ms": _avg(t, "finished"),
         "p95_ms": histogram.percentile(t.hist, 0.95), "execution_count": t["finished"],
         "failure_rate": _ratio(t["error"], t["finished"])}
        for (ns, nm, ver), t in workflows.items()),
        key=lambda d: (-d["avg_duration_ms"], d["namespace"], d["task_name"], d["version"]))[:TOP]
    step_rows = [
        {"step_name": st, "task_name": nm, "namespace": ns, "version": ver,
         "avg_duration_ms": _avg(t, "runs"), "p95_ms": histogram.percentile(t.hist, 0.95),
         "execution_count": t["runs"], "retry_rate": _ratio(t["retries"], t["runs"]),
         "error_rate": _ratio(t["errors"], t["runs"]), "current_timeout": t.timeout}
        for (ns, nm, ver, st), t in steps.items()]
    slowest_steps = sorted(step_rows, key=lambda d: (-d["avg_duration_ms"], d["namespace"],
                                                     d["task_name"], d["version"], d["step_name"]))
    patterns: dict[str, dict] = {}
    for (ns, nm, ver, st), t in steps.items():
        for err, n in t.errors.items():
            p = patterns.setdefault(err, {"error_type": err, "frequency": 0, "affected_steps": set()})
            p["frequency"] += n
            p["affected_steps"].add(st)
    error_patterns = sorted(({**p, "affected_steps": sorted(p["affected_steps"])}
                             for p in patterns.values()),
                            key=lambda p: (-p["frequency"], p["error_type"]))
    return {
        "analysis_period": f"{period_hours} hour{'s' if period_hours != 1 else ''}",
        "scope": scope,
        "slowest_tasks": slowest_tasks,
        "slowest_steps": [{k: v for k, v in row.items() if k != "current_timeout"}
                          for row in slowest_steps[:TOP]],
        "error_patterns": error_patterns[:TOP],
        "recommendations": recommendations(slowest_steps),
        "data_available": bool(workflows or steps),
    }


def recommendations(step_rows: list[dict]) -> list[dict]:
    """Advice that follows from the numbers only:

    - ``timeout_optimization`` when a step's p95 reaches 80 % of its known
      timeout (its engine task's, or a numeric ``timeout`` in its inputs):
      suggested = p95 + 25 %, rounded up to whole 5 s;
    - ``retry_policy_review`` when 10 % or more of a step's attempts were retries.
    """
    out = []
    for row in step_rows:
        timeout, p95 = row["current_timeout"], row["p95_ms"]
        if timeout and p95 is not None and p95 >= TIMEOUT_PRESSURE * timeout * 1000:
            suggested = 5 * math.ceil(p95 * TIMEOUT_HEADROOM / 5000)
            out.append({"type": "timeout_optimization", "step": row["step_name"],
                        "task_name": row["task_name"], "current_timeout": _num(timeout),
                        "suggested_timeout": max(suggested, math.ceil(timeout)),
                        "rationale": f"95th percentile execution time is {_seconds(p95)}s"})
        if row["retry_rate"] is not None and row["retry_rate"] >= RETRY_RATE_ALERT:
            out.append({"type": "retry_policy_review", "step": row["step_name"],
                        "task_name": row["task_name"], "retry_rate": row["retry_rate"],
                        "rationale": f"{round(100 * row['retry_rate'])}% of its "
                                     f"{row['execution_count']} attempts were retries"})
    return out


def _num(x: float) -> int | float:
    return int(x) if float(x).is_integer() else x


def _seconds(ms: int) -> int | float:
    return _num(round(ms / 1000, 1))
