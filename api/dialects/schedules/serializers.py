"""Engine schedule views in the document's words: a scheduled task is an
engine schedule (taskq.schedules.Schedules view), shown field by field so
an engine field added later does not appear here unannounced."""

from __future__ import annotations

from typing import Any

from taskq.schedules.model import FIELDS

TASK_FIELDS = ("id", *FIELDS, "status", "event", "next_run_at", "last_run_at", "created_at",
               "updated_at", "runs_total", "snooze_reason", "recent_runs")
"""What a scheduled task shows, in this order (``event`` on event tasks,
``recent_runs`` on one task by id and the actions' answers)."""
RUN_FIELDS = ("run", "fired_at", "outcome", "status", "task_ids", "started_at", "ended_at", "error")


def run_view(run: dict[str, Any]) -> dict[str, Any]:
    return {k: run[k] for k in RUN_FIELDS if k in run}


def task_view(view: dict[str, Any]) -> dict[str, Any]:
    out = {k: view[k] for k in TASK_FIELDS if k in view}
    if "recent_runs" in out:
        out["recent_runs"] = [run_view(r) for r in out["recent_runs"]]
    return out


def run_now_view(task_id: str, result: dict[str, Any]) -> dict[str, Any]:
    return {"id": task_id, "run": result["run"], "outcome": result["outcome"],
            "task_ids": result.get("task_ids", [])}
