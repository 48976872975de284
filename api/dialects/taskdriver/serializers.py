"""Engine objects in the TaskDriver document's words: projects, task types,
leases and sessions (a task's fields are shared with DTS:
api.shared_tasks.serializers)."""

from __future__ import annotations

import uuid

from taskq.projects.store import Project
from taskq.projects.task_types import TaskType

from ...shared_tasks.serializers import ms_iso, td_fields as task_view

__all__ = ["NO_TASKS", "STATUS_QUERY", "agent_view", "canonical_id", "ms_iso", "project_view",
           "session_view", "stats_view", "task_view", "type_view"]

STATUS_QUERY = {"queued": ("queued", "delayed", "blocked"), "running": ("running",),
                "completed": ("completed",), "failed": ("failed", "cancelled")}
"""TaskDriver status filter -> engine statuses."""
NO_TASKS = "No tasks available for assignment"


def canonical_id(value: str) -> str:
    """A UUID from a path as stored (canonical lower case); other text as given."""
    try:
        return str(uuid.UUID(value))
    except (ValueError, TypeError, AttributeError):
        return value


def stats_view(counts: dict[str, int]) -> dict:
    return {
        "totalTasks": sum(counts.values()),
        "completedTasks": counts.get("completed", 0),
        "failedTasks": counts.get("failed", 0) + counts.get("cancelled", 0),
        "queuedTasks": sum(counts.get(s, 0) for s in STATUS_QUERY["queued"]),
        "runningTasks": counts.get("running", 0),
    }


def project_view(p: Project, counts: dict[str, int]) -> dict:
    return {
        "id": p.id, "name": p.name, "description": p.description,
        "instructions": p.instructions, "status": p.status,
        "createdAt": ms_iso(p.created_ms), "updatedAt": ms_iso(p.updated_ms),
        "config": {"defaultMaxRetries": p.max_retries,
                   "defaultLeaseDurationMinutes": p.lease_minutes,
                   "reaperIntervalMinutes": p.reaper_minutes},
        "stats": stats_view(counts),
    }


def type_view(t: TaskType, project: Project | None = None) -> dict:
    """A task type; maxRetries and leaseDurationMinutes show the values its
    tasks get (its own, else its project's default)."""
    return {
        "id": t.id, "name": t.name, "projectId": t.project_id, "template": t.template,
        "variables": t.variables, "duplicateHandling": t.duplicate_handling,
        "maxRetries": t.retries_for(project) if project else t.max_retries,
        "leaseDurationMinutes": t.lease_for(project) if project else t.lease_minutes,
        "createdAt": ms_iso(t.created_ms), "updatedAt": ms_iso(t.updated_ms),
    }


def agent_view(lease: dict) -> dict:
    return {"agentName": lease["agent"], "taskId": lease["task_id"],
            "assignedAt": ms_iso(lease["leased_ms"]), "leaseExpiresAt": ms_iso(lease["expires_ms"]),
            "status": "running"}


def session_view(s) -> dict:
    return {"sessionId": s.id, "agentName": s.agent, "projectId": s.project_id,
            "createdAt": ms_iso(s.created_ms), "expiresAt": ms_iso(s.expires_ms),
            "lastActivity": ms_iso(s.last_activity_ms)}
