"""Engine objects in the Tasker document's words: handlers, namespaces,
workflows ("tasks") and their steps."""

from __future__ import annotations

from taskq.workflows import Handler, dependency_analysis, dependency_graph

TASK_FIELDS = ("id", "name", "namespace", "version", "full_name", "status", "context",
               "created_at", "updated_at")


def namespace_view(ns) -> dict:
    names = [h.name for h in ns.handlers]
    return {"name": ns.name, "description": ns.description, "handler_count": len(names),
            "handlers": names}


def handler_summary(h: Handler, versions: list[str]) -> dict:
    return {"id": h.name, "namespace": h.namespace, "version": h.version,
            "description": h.description, "step_count": len(h.steps),
            "step_names": [s.name for s in h.steps], "versions": versions}


def handler_detail(h: Handler, versions: list[str]) -> dict:
    return {"id": h.name, "namespace": h.namespace, "version": h.version,
            "description": h.description, "versions": versions,
            "step_templates": [s.to_dict() for s in h.steps],
            "dependency_graph": dependency_graph(h)}


def task_view(wf: dict) -> dict:
    return {k: wf[k] for k in TASK_FIELDS}


def step_view(wf_id: str, step: dict) -> dict:
    out = {"id": step["name"], "task_id": wf_id}
    out.update({k: v for k, v in step.items() if k != "task_id"})
    out["engine_task_id"] = step["task_id"]
    return out


def task_detail(wf: dict, include_dependencies: bool = False) -> dict:
    out = task_view(wf)
    out["steps"] = [step_view(wf["id"], s) for s in wf["steps"]]
    if include_dependencies:
        out["dependencies"] = dependency_analysis(wf)
    return out
