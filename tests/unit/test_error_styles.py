"""Error bodies follow the style the request's dialect declares: the
renderers themselves, and the choice by matched blueprint, by a dialect's
paths (errors before any route matched) and by a dialect's own claim. The
Tasker dialect brings its own renderer (a descriptor's error_style may be
one): no envelope, ``{"error": {"type", "message", "code", "details"}}``."""

from __future__ import annotations

from flask import Flask, g, request
from flask_smorest import Blueprint

from api import error_styles, errors
from api.dialects.base import Dialect, Dialects
from api.dialects.tasker.errors import tasker_body
from api.errors import ApiError


def test_tasker_body_has_no_envelope_and_names_the_type():
    body = error_styles.render(tasker_body, 404, "handler_not_found", "Handler 'x' not found")
    assert body == {"error": {"type": "HandlerNotFound", "message": "Handler 'x' not found",
                              "code": "HANDLER_NOT_FOUND"}}
    assert error_styles.render(tasker_body, 404, "not_found", "no")["error"]["type"] == "NotFound"
    assert error_styles.render(tasker_body, 409, "step_not_found", "x")["error"]["type"] == "Conflict"


def test_tasker_body_carries_details_and_extras_inside_error():
    body = error_styles.render(tasker_body, 409, "conflict", "bad", {"status": "complete"}, {"hint": "x"})
    assert body == {"error": {"type": "Conflict", "message": "bad", "code": "CONFLICT",
                              "details": {"status": "complete", "hint": "x"}}}
    assert error_styles.render(tasker_body, 418, "teapot", "t")["error"]["type"] == "InternalError"


def test_tasker_422_details_map_each_field_to_its_messages():
    flat = [{"field": "namespace", "message": "must be present", "value": None},
            {"field": "version", "message": "must be a valid semantic version", "value": "x"},
            {"field": "context.a", "message": "no", "value": None},
            {"field": "version", "message": "too long", "value": "x"}]
    body = error_styles.render(tasker_body, 422, "invalid_task_config", "Invalid task configuration",
                               {"fields": {"namespace": ["must be present"]}, "max": 3},
                               {"validationDetails": flat})
    assert body == {"error": {"type": "ValidationError", "message": "Invalid task configuration",
                              "code": "INVALID_TASK_CONFIG", "details": {
                                  "namespace": ["must be present"],
                                  "version": ["must be a valid semantic version", "too long"],
                                  "context.a": ["no"], "max": 3}}}
    # a 422 naming no field keeps its details as they are
    assert error_styles.render(tasker_body, 422, "c", "m", {"fields": {}})["error"]["details"] == {"fields": {}}


def test_object_and_string_bodies_keep_their_shapes():
    app = Flask("t")
    with app.test_request_context("/"):
        obj = error_styles.render("object", 409, "conflict", "m", None, {"validationDetails": []})
        text = error_styles.render("string", 409, "conflict", "m", {"status": "x"})
    assert list(obj) == ["success", "error", "timestamp", "correlationId", "validationDetails"]
    assert obj["error"] == {"code": "conflict", "message": "m", "details": {}}
    assert text["error"] == "m" and text["code"] == "conflict" and text["details"] == {"status": "x"}
    assert error_styles.render("no-such-style", 409, "c", "m")["error"]["code"] == "c"  # the default


def _app() -> Flask:
    """Three dialects: 'obj' owns /obj/..., 'tasker' /tasker/..., and 'str'
    claims any request whose g.caller is 'agent'."""
    app = Flask("t")
    errors.register(app)
    blueprints = {}
    for name in ("obj", "tasker", "str"):
        blp = Blueprint(name, __name__)

        @blp.route("/boom")
        def boom():
            raise ApiError(422, "validation_error", "bad input", {"fields": {"x": ["no"]}})

        blueprints[name] = blp
        app.register_blueprint(blp, url_prefix="/" + name)
    registry = app.extensions["taskq.dialects"] = Dialects()
    registry.add(Dialect("obj", "/obj", (blueprints["obj"],), "object", paths=("/",)), app, None)
    registry.add(Dialect("tasker", "/tasker", (blueprints["tasker"],), tasker_body, paths=("/",)), app, None)
    registry.add(Dialect("str", "/str", (blueprints["str"],), "string",
                         claims=lambda: g.get("caller") == "agent"), app, None)

    @app.before_request
    def who():
        g.caller = request.headers.get("X-Caller")
    return app


def test_the_matched_blueprint_picks_the_style():
    c = _app().test_client()
    assert c.get("/tasker/boom").json == {"error": {
        "type": "ValidationError", "message": "bad input", "code": "VALIDATION_ERROR",
        "details": {"x": ["no"]}}}
    assert c.get("/obj/boom").json["error"]["code"] == "validation_error"
    assert c.get("/str/boom").json["error"] == "bad input"


def test_before_a_route_matched_the_paths_pick_the_style():
    c = _app().test_client()
    resp = c.get("/tasker/nothing-here")
    assert resp.status_code == 404 and resp.json["error"]["type"] == "NotFound"
    assert "success" not in resp.json
    assert c.post("/tasker/boom").json["error"]["type"] == "MethodNotAllowed"
    assert c.get("/obj/nothing").json["error"]["code"] == "not_found"
    assert c.get("/elsewhere").json["error"]["code"] == "not_found"          # no dialect: the default


def test_a_dialect_that_claims_the_caller_wins_over_the_route():
    c = _app().test_client()
    assert c.get("/tasker/boom", headers={"X-Caller": "agent"}).json["error"] == "bad input"
    resp = c.get("/obj/nothing", headers={"X-Caller": "agent"})
    assert isinstance(resp.json["error"], str) and resp.json["code"] == "not_found"
