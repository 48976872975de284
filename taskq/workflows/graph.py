"""Pure views of a handler's DAG and of a workflow's progress through it,
in the shapes the Tasker document uses (``dependency_graph`` of a handler,
``dependencies`` of a task)."""

from __future__ import annotations

from .handlers import Handler


def dependency_graph(handler: Handler) -> dict:
    """``nodes`` in definition order, ``edges`` (from -> to), and
    ``execution_order``: a topological order."""
    return {"nodes": [s.name for s in handler.steps],
            "edges": [{"from": a, "to": b} for a, b in handler.edges],
            "execution_order": handler.execution_order}


def dependency_analysis(workflow: dict) -> dict:
    """Which steps are completed, which could run now (pending or running
    with every dependency complete or skipped), which wait on others, and a
    one-line analysis."""
    status = {s["name"]: s["status"] for s in workflow["steps"]}
    done = ("complete", "skipped")
    completed = [n for n, st in status.items() if st == "complete"]
    ready, blocked = [], []
    for s in workflow["steps"]:
        if s["status"] not in ("pending", "in_progress"):
            continue
        if all(status[d] in done for d in s["depends_on"]):
            ready.append(s["name"])
        else:
            blocked.append(s["name"])
    wf_status = workflow["status"]
    if wf_status == "complete":
        analysis = "All steps are complete"
    elif wf_status == "error":
        failed = [n for n, st in status.items() if st == "error"]
        analysis = f"Task failed at {', '.join(failed)}; the steps that depend on it will not run"
    elif wf_status == "cancelled":
        analysis = "Task was cancelled; the steps that depend on a cancelled step will not run"
    elif ready:
        analysis = "Task is progressing normally through dependency chain"
    else:
        analysis = "No step can run yet"
    return {"analysis": analysis, "blocked_steps": blocked, "ready_steps": ready,
            "completed_steps": completed}
