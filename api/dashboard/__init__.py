"""The operator dashboard at /dashboard: server-rendered pages (Jinja
templates in templates/) refreshed in place by one small script
(static/dashboard.js polls each page's JSON every 2 s), one stylesheet,
nothing from another host and no build step.

    access    who may look and act: session cookie, scopes, CSRF, rate limits
    sessions  the sessions in Redis
    login     the login form and logout
    reads     what each page shows (engine and service reads, as plain data)
    pages     each page as HTML and as JSON
    privacy   what a session without projects:read sees of TaskDriver projects
    actions   the buttons (POST, CSRF-checked, scope ``dashboard``)
    render    responses, the Content-Security-Policy, error pages

Shared like api.services: it imports no dialect (the workflow page finds
the Tasker dialect's vendored Mermaid by its URL rule).
"""

from __future__ import annotations

from flask import Blueprint, Flask

from taskq.errors import TaskqError

from ..errors import ApiError
from ..app_state import state
from . import access, actions, login, pages, privacy, render

URL_PREFIX = access.PATH


def blueprint() -> Blueprint:
    bp = Blueprint("dashboard", __name__, url_prefix=URL_PREFIX, template_folder="templates",
                   static_folder="static", static_url_path="/static")
    bp.before_request(access.before)
    bp.after_request(lambda resp: privacy.scrub(resp, state()))
    bp.register_error_handler(ApiError, render.handle_error)
    bp.register_error_handler(TaskqError, render.handle_error)
    bp.app_template_global("mermaid_url")(render.mermaid_url)
    bp.app_template_global("linkable_queue")(privacy.linkable_queue)
    bp.app_template_global("queue_title")(privacy.queue_title)
    login.register(bp)
    pages.register(bp)
    actions.register(bp)
    return bp


def register(app: Flask) -> None:
    app.register_blueprint(blueprint())
