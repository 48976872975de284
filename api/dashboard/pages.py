"""The dashboard's pages. Each page is registered twice: as HTML at
``/dashboard/<path>`` and as JSON at ``/dashboard/data/<path>``, which
dashboard.js polls every 2 s. The JSON carries the page's data and its
live region rendered by the same template, so the script swaps the
region in place and no view of the data is written twice."""

from __future__ import annotations

from typing import Callable

from flask import Blueprint, jsonify, render_template, request

from ..app_state import state
from . import access, privacy, reads
from .render import CSP, CSP_DIAGRAM, html_response

DATA_PREFIX = access.PATH + "/data"


def page_path() -> str:
    """The page's own path and query, also when its JSON is asked for
    (forms in a region send it as ``next``)."""
    path = request.path
    if path.startswith(DATA_PREFIX):
        path = access.PATH + path[len(DATA_PREFIX):]
    return path + _query()


def context(ctx: dict) -> dict:
    session = access.current()
    principal = session.principal() if session else None
    return {**ctx, "session": session, "may_act": bool(principal and access.can_act(principal)),
            "csrf_token": session.csrf if session else "", "here": page_path()}


def add_page(bp: Blueprint, rule: str, endpoint: str, template: str, read: Callable[..., dict],
             title: str, csp: str = CSP) -> None:
    """Serve ``read(st, **view_args)`` as the page ``template`` (which
    includes its live region ``_<template>``) and as JSON."""

    def page_data(kwargs: dict) -> dict:
        privacy.guard(endpoint, kwargs)
        data = privacy.mask(endpoint, read(state(), **kwargs), state())
        privacy.prefetch_titles(data)
        return context(data)

    def html_view(**kwargs):
        ctx = page_data(kwargs)
        flash = access.store().take_flash(access.current())
        body = render_template(f"dashboard/{template}", title=title(ctx) if callable(title) else title,
                               region=f"dashboard/_{template}", flash=flash,
                               data_url=DATA_PREFIX + request.path[len(access.PATH):] + _query(), **ctx)
        return html_response(body, csp)

    def data_view(**kwargs):
        ctx = page_data(kwargs)
        region = render_template(f"dashboard/_{template}", **ctx)
        data = {k: v for k, v in ctx.items() if k not in ("session", "csrf_token", "here")}
        resp = jsonify({"data": data, "regions": {"live": region}})
        resp.headers["Cache-Control"] = "no-store"
        return resp

    bp.add_url_rule(rule, endpoint, html_view)
    bp.add_url_rule("/data" + rule if rule != "/" else "/data/", f"{endpoint}_data", data_view)


def _query() -> str:
    q = request.query_string.decode("utf-8", "replace")
    return f"?{q}" if q else ""


def _args(*names: str) -> dict:
    return {n: request.args.get(n) for n in names}


def register(bp: Blueprint) -> None:
    add_page(bp, "/", "overview", "overview.html", lambda st: reads.overview_page(st), "Overview")
    add_page(bp, "/queues", "queues", "queues.html", lambda st: reads.queues_page(st), "Queues")
    add_page(bp, "/queues/<name>", "queue", "queue.html",
             lambda st, name: reads.queue_page(st, name, *_args("status", "page", "q").values()),
             lambda ctx: f"Queue {privacy.queue_title(ctx['queue']['name']) or ctx['queue']['name']}")
    add_page(bp, "/tasks/<path:task_id>", "task", "task.html",
             lambda st, task_id: reads.task_page(st, task_id), lambda ctx: f"Task {ctx['task']['id']}")
    add_page(bp, "/workers", "workers", "workers.html", lambda st: reads.workers_page(st), "Workers")
    add_page(bp, "/schedules", "schedules", "schedules.html",
             lambda st: reads.schedules_page(st, request.args.get("page")), "Schedules")
    add_page(bp, "/schedules/<sid>", "schedule", "schedule.html",
             lambda st, sid: reads.schedule_page(st, sid), lambda ctx: f"Schedule {ctx['schedule']['title']}")
    add_page(bp, "/workflows", "workflows", "workflows.html",
             lambda st: reads.workflows_page(st, *_args("status", "page").values()), "Workflows")
    add_page(bp, "/workflows/<workflow_id>", "workflow", "workflow.html",
             lambda st, workflow_id: reads.workflow_page(st, workflow_id),
             lambda ctx: f"Workflow {ctx['workflow']['full_name']}", csp=CSP_DIAGRAM)
    add_page(bp, "/projects", "projects", "projects.html", lambda st: reads.projects_page(st),
             "TaskDriver projects")
