"""What a dashboard session without ``projects:read`` sees of TaskDriver
projects. In open login mode a project id is all it takes to act as any of
the project's agents, and a project's queue (``td-<id>``) and task ids
(``td-<id>:...``) spell it out; so for such a session (scopes ``dashboard``
and ``dashboard:read`` alone included):

- a project's queue is named by its label ``project:<name>``
  (api.services.labels, as metrics and the API's worker views name it),
  without a link; its task ids are left out (a worker's current tasks, the
  projects page's leases, a schedule's runs, a task's dependencies, the
  steps of a workflow run in its queue);
- a project's queue page and its tasks' pages, and the buttons acting on
  them, answer 403 ``insufficient_scope`` (naming neither);
- the projects page shows each project's name, counts and agents, not its id;
- and whatever else a response holds (user JSON, log lines, errors, a
  flash), every project id left in its body is replaced by ``id~`` and 8 hex
  digits of its sha256, as the access log writes it (api.middleware).

A session whose credential carries ``projects:read`` (or ``projects:write``,
or ``admin``) sees everything.
"""

from __future__ import annotations

import re
from typing import Callable

from flask import g

from taskq.keys import valid_queue_name
from taskq.projects.store import project_of_queue

from ..errors import ApiError
from ..middleware import loggable_path
from ..services.labels import is_project_task
from ..app_state import state
from . import access

SCOPE = "projects:read"
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
SCRUBBED_TYPES = ("text/html", "application/json")


def hides_projects() -> bool:
    """Whether this request's session may not see project ids."""
    session = access.current()
    return session is not None and not session.principal().allows(SCOPE)


def linkable_queue(name: str) -> bool:
    """Whether a queue cell names a real queue (a label holds ':', which no
    queue name does): the templates link only those."""
    return valid_queue_name(name)


def queue_title(name: str) -> str | None:
    """For a session that may see projects, the label (``project:<name>``)
    a project's queue is shown by, its ``td-<id>`` name kept for the link
    and the tooltip: the id alone says nothing to a reader. None for any
    other queue, or a session that sees the label in place of the name.
    One lookup per project queue and request."""
    if not isinstance(name, str) or project_of_queue(name) is None or hides_projects():
        return None
    cache = g.setdefault("taskq_queue_titles", {})
    if name not in cache:
        cache[name] = state().labels.of([name])[name]
    return cache[name]


def prefetch_titles(data) -> None:
    """Read the titles of every project queue the page's data names, in one
    round trip, before the templates ask :func:`queue_title` for each (a
    page polled every 2 s would otherwise pay one per project queue)."""
    if hides_projects():
        return
    names, stack = set(), [data]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
        elif isinstance(item, str) and project_of_queue(item) is not None:
            names.add(item)
    cache = g.setdefault("taskq_queue_titles", {})
    missing = sorted(names - set(cache))
    if missing:
        cache.update(state().labels.of(missing))


# -- before a page is read ---------------------------------------------------------------
def guard(endpoint: str, view_args: dict) -> None:
    """Refuse a project's queue and its tasks, as pages and as actions (403, naming neither)."""
    if not hides_projects():
        return
    name, task_id = view_args.get("name"), view_args.get("task_id")
    if (isinstance(name, str) and project_of_queue(name) is not None) or \
            (isinstance(task_id, str) and is_project_task(task_id)):
        raise ApiError(403, "insufficient_scope",
                       f"a TaskDriver project's queue and tasks need scope {SCOPE!r}",
                       {"required_scope": SCOPE})


# -- after a page is read: the page's data ----------------------------------------------
class _Labels:
    def __init__(self, st):
        self.st, self.known = st, {}

    def __call__(self, names: list[str]) -> list[str]:
        missing = [n for n in dict.fromkeys(names) if n not in self.known]
        if missing:
            self.known.update(self.st.labels.of(missing))
        return [self.known[n] for n in names]


def _queue_rows(rows: list[dict], labels: _Labels) -> None:
    for row, label in zip(rows, labels([r["name"] for r in rows])):
        row["name"] = label


def _workers(rows: list[dict], labels: _Labels) -> None:
    for w in rows:
        w["queues"] = labels(list(w.get("queues") or []))
        w["current_task_ids"] = [t for t in w.get("current_task_ids") or [] if not is_project_task(t)]


def _schedule(s: dict, labels: _Labels) -> None:
    if s.get("queue"):
        s["queue"] = labels([s["queue"]])[0]
    for run in s.get("recent_runs") or []:
        if run.get("task_ids"):
            run["task_ids"] = [t for t in run["task_ids"] if not is_project_task(t)]


def _overview(ctx: dict, labels: _Labels) -> None:
    _queue_rows(ctx["queues"], labels)
    _workers(ctx["workers"], labels)
    for s in ctx["schedules_due"]:
        _schedule(s, labels)


def _task(ctx: dict, labels: _Labels) -> None:
    deps = ctx["task"]["dependencies"] or []
    shown = [d for d in deps if not is_project_task(d)]
    ctx["task"]["dependencies"], ctx["task"]["hidden_dependencies"] = shown, len(deps) - len(shown)


def _workflow(ctx: dict, labels: _Labels) -> None:
    """A workflow run in a project's queue (the Python API can place one there)."""
    wf = ctx["workflow"]
    if wf.get("queue"):
        wf["queue"] = labels([wf["queue"]])[0]
    for step in wf["steps"]:
        if is_project_task(step.get("task_id") or ""):
            step["task_id"] = None


def _projects(ctx: dict, labels: _Labels) -> None:
    for p in ctx["projects"]:
        p["id"] = None
        p["queue"] = labels([p["queue"]])[0]
        for agent in p["agents"]:
            agent["leases"] = [{"task_id": None, "expires_at": lease["expires_at"]} for lease in agent["leases"]]


MASKS: dict[str, Callable[[dict, _Labels], None]] = {
    "overview": _overview,
    "queues": lambda ctx, labels: _queue_rows(ctx["queues"], labels),
    "task": _task,
    "workers": lambda ctx, labels: _workers(ctx["workers"], labels),
    "schedules": lambda ctx, labels: [_schedule(s, labels) for s in ctx["schedules"]],
    "schedule": lambda ctx, labels: _schedule(ctx["schedule"], labels),
    "workflow": _workflow,
    "projects": _projects,
}
"""Page endpoint -> how its data is masked (pages not named hold no project
queue or task by structure; the body scrub still applies to them)."""


def mask(endpoint: str, ctx: dict, st) -> dict:
    """The page's data as this session may see it (changed in place)."""
    masker = MASKS.get(endpoint)
    if masker is not None and hides_projects():
        masker(ctx, _Labels(st))
    return ctx


# -- every response: the body ---------------------------------------------------------------
def project_ids(st, candidates: set[str]) -> set[str]:
    """Which of ``candidates`` (lowercase UUIDs) are project ids: a project
    on record, or the queue of a deleted one still known. One round trip."""
    return st.labels.project_ids(candidates)


def scrub(resp, st):
    """``resp`` with every project id in its HTML or JSON body fingerprinted,
    for a session that may not see them (the after-request hook)."""
    if not hides_projects() or resp.direct_passthrough or resp.mimetype not in SCRUBBED_TYPES:
        return resp
    body = resp.get_data(as_text=True)
    found = project_ids(st, {m.group(0).lower() for m in _UUID.finditer(body)})
    if found:
        resp.set_data(_UUID.sub(lambda m: loggable_path(m.group(0)) if m.group(0).lower() in found
                                else m.group(0), body))
    return resp
