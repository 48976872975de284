"""Agents and leases: who works on what, the next task for an agent, and
what an agent does with its task (complete, fail, extend the lease)."""

from __future__ import annotations

import re

from ...envelope import ok
from ...errors import validation_error
from ...schemas import envelope
from .runtime import state
from .access import agent_for, blueprint, gate, readable_project
from ...shared_tasks.schemas import TDTaskSchema
from .schemas_agents import (AgentSchema, CleanupSchema, CompleteSchema, ExtendLeaseSchema, FailSchema,
                             NextTaskEnvelopeSchema, NextTaskSchema, PeekSchema)
from .schemas_common import AGENT_MESSAGE, AGENT_RE
from .serializers import NO_TASKS, agent_view, canonical_id, task_view

blp = blueprint("TaskDriver Agents", "Agents lease tasks by name: next task, complete, fail, extend, "
                                     "cleanup of expired leases")

_AGENT = re.compile(AGENT_RE)


def _session_project(principal) -> str | None:
    return principal.project_id if principal.kind == "session" else None


def _acting(body: dict) -> tuple[str, str | None]:
    """(the agent the caller acts as, the project a session is held to)."""
    principal, agent = agent_for(body.get("agentName"), body.get("projectId"))
    return agent, _session_project(principal)


@blp.route("/projects/<project_id>/agents", methods=["GET"])
@gate("projects:read", sessions=True)
@blp.response(200, envelope(AgentSchema, True))
def agents(project_id):
    """Agents holding a live lease in the project, soonest expiry first."""
    project = readable_project(project_id)
    return ok([agent_view(x) for x in state().projects.leases(project.id)])


@blp.route("/projects/<project_id>/peek-next-task", methods=["GET"])
@gate("projects:read", sessions=True)
@blp.response(200, envelope(PeekSchema))
def peek(project_id):
    """How many tasks an agent asking now could be given (nothing is leased)."""
    project = readable_project(project_id)
    return ok({"projectId": project.id, "tasksAvailable": state().projects.available(project.id)})


@blp.route("/agents/<agent_name>/next-task", methods=["POST"], parameters=[
    {"in": "path", "name": "agent_name", "required": True, "description": AGENT_MESSAGE,
     "schema": {"type": "string", "pattern": AGENT_RE}}])
@gate("agents:write", sessions=True)
@blp.arguments(NextTaskSchema)
@blp.response(200, NextTaskEnvelopeSchema)
def next_task(body, agent_name):
    """The agent's current task if it holds a lease (a reconnect), else the
    next task by priority, leased to it for the task's lease length. No task:
    HTTP 200 with success false and error "No tasks available for assignment"."""
    principal, agent = agent_for(agent_name, body.get("projectId"))
    project_id = body.get("projectId") or _session_project(principal)
    problems = []
    if not _AGENT.fullmatch(agent):
        problems.append({"field": "agentName", "message": AGENT_MESSAGE, "value": agent})
    if not project_id:
        problems.append({"field": "projectId", "message": "required", "value": None})
    if problems:
        raise validation_error(problems)
    td = state()
    task = td.agents.next_task(td.projects.get(project_id), agent)
    if task is None:
        return {"success": False, "error": NO_TASKS, "data": {"task": None, "agentName": agent}}
    view = task_view(task)
    return {"success": True, "data": {"task": view, "agentName": agent, **view}}


@blp.route("/tasks/<task_id>/complete", methods=["POST"])
@gate("agents:write", sessions=True)
@blp.arguments(CompleteSchema)
@blp.response(200, envelope(TDTaskSchema))
@blp.alt_response(409, description="the task is not running, or not leased to this agent (lease lost)")
def complete(body, task_id):
    """Complete the agent's task with a result and outputs; this ends its lease."""
    agent, own = _acting(body)
    task = state().agents.complete(task_id, agent, body.get("result"), body.get("outputs"), own)
    return ok(task_view(task))


@blp.route("/tasks/<task_id>/fail", methods=["POST"])
@gate("agents:write", sessions=True)
@blp.arguments(FailSchema)
@blp.response(200, envelope(TDTaskSchema))
@blp.alt_response(409, description="the task is not running, or not leased to this agent (lease lost)")
def fail(body, task_id):
    """Fail the agent's attempt: with canRetry and retries left the task is
    queued again at once, else it fails for good. This ends the lease."""
    agent, own = _acting(body)
    task, _ = state().agents.fail(task_id, agent, body["error"], body["canRetry"], own)
    return ok(task_view(task))


@blp.route("/tasks/<task_id>/extend-lease", methods=["POST"])
@gate("agents:write", sessions=True)
@blp.arguments(ExtendLeaseSchema)
@blp.response(200, envelope(TDTaskSchema))
@blp.alt_response(409, description="the task is not running, or not leased to this agent (lease lost)")
def extend_lease(body, task_id):
    """Push the lease's expiry extensionMinutes later."""
    agent, own = _acting(body)
    task = state().agents.extend(task_id, agent, body["extensionMinutes"], own)
    return ok(task_view(task))


@blp.route("/projects/<project_id>/cleanup-leases", methods=["POST"])
@gate("projects:write")
@blp.response(200, envelope(CleanupSchema))
def cleanup(project_id):
    """Reclaim the project's expired leases now: each task is queued again
    (or fails when its retries are spent)."""
    project_id = canonical_id(project_id)
    td = state()
    td.projects.get(project_id)
    done = td.projects.reclaim(project_id)
    return ok({"reclaimedTasks": done["reclaimed"], "cleanedAgents": done["agents"]})
