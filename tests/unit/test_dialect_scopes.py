"""Scopes a dialect declares (its descriptor's ``scopes``) and the generic
rules api.auth applies to them: ``<namespace>.*`` and
``<namespace>.<resource>:*`` grant a declared ``<namespace>.<resource>:<action>``;
the CLI knows every dialect's scopes, and the registry names the scope an
engine action needs (``action_scopes``), ``admin`` when no dialect does."""

from __future__ import annotations

import jwt
import pytest
from click.testing import CliRunner
from flask import Flask

from api import auth
from api.cli import cli, known_scopes
from api.dialects import DIALECTS
from api.dialects.base import Dialect, Dialects


def principal(*scopes) -> auth.Principal:
    return auth.Principal("jwt:x", "x", frozenset(scopes), "jwt")


def test_wildcards_grant_a_dialect_scope_for_any_namespace():
    assert principal("acme.*").allows("acme.widget:show")
    assert principal("acme.widget:*").allows("acme.widget:show")
    assert not principal("acme.widget:*").allows("acme.gadget:show")
    assert not principal("other.*").allows("acme.widget:show")
    assert not principal("acme.widget:write").allows("acme.widget:read")  # no write-implies-read there
    assert principal("tasks:write").allows("tasks:read") and not principal("tasks:read").allows("tasks:write")
    assert principal("admin").allows("acme.widget:show")


def test_known_scopes_add_the_wildcards_of_what_dialects_declare():
    known = auth.known_scopes(["acme.widget:show", "acme.gadget:index"])
    assert set(known) - set(auth.SHARED_SCOPES) == {
        "acme.widget:show", "acme.gadget:index", "acme.*", "acme.widget:*", "acme.gadget:*"}
    assert auth.check_scopes(["acme.*", "tasks:read"], known) == ["acme.*", "tasks:read"]
    with pytest.raises(ValueError, match="unknown scope.*acme.widget:destroy"):
        auth.check_scopes(["acme.widget:destroy"], known)


def test_without_the_dialects_a_scope_is_checked_by_its_shape():
    assert auth.check_scopes(["tasker.task:create", "tasker.*", "tasker.task:*"]) == [
        "tasker.*", "tasker.task:*", "tasker.task:create"]
    for bad in ("everything", "tasker", "tasker.", "tasker.task", "Tasker.task:create"):
        with pytest.raises(ValueError):
            auth.check_scopes([bad])


def test_the_cli_knows_every_dialects_scopes_and_nothing_else(monkeypatch):
    known = known_scopes()
    for d in DIALECTS:
        assert set(d.scopes) <= set(known)
    assert "tasker.task:create" in known and "tasker.*" in known and "tasker.task:*" in known
    monkeypatch.setenv("TASKQ_JWT_SECRET", "s" * 32)
    runner = CliRunner()
    out = runner.invoke(cli, ["token", "--sub", "ops", "-s", "tasker.task:*", "-s", "tasks:read"])
    assert out.exit_code == 0, out.output
    claims = jwt.decode(out.output.strip(), "s" * 32, algorithms=["HS256"])
    assert claims["scopes"] == ["tasker.task:*", "tasks:read"]
    bad = runner.invoke(cli, ["token", "--sub", "ops", "-s", "tasker.task:fly"])
    assert bad.exit_code == 2 and "unknown scope(s) tasker.task:fly" in bad.output
    assert "tasker.workflow_step:destroy" in runner.invoke(cli, ["token", "--help"]).output


def test_the_registry_names_an_actions_scope_and_dialect_paths():
    app = Flask("t")
    registry = Dialects()
    registry.add(Dialect("one", "/one", (), "object", scopes=("one.thing:make",),
                         action_scopes={"make_thing": "one.thing:make"},
                         open_paths=("/health",), uncounted_paths=("/metrics",)), app, None)
    registry.add(Dialect("two", "", (), "object"), app, None)
    assert registry.scope_for("make_thing") == "one.thing:make"
    assert registry.scope_for("launch_rocket") == "admin"  # no dialect names it: only an admin may
    assert registry.scopes() == ("one.thing:make",)
    assert registry.paths("open_paths") == ("/one/health",)
    assert registry.paths("uncounted_paths") == ("/one/metrics",)
    with app.app_context():
        app.extensions["taskq.dialects"] = registry
        assert auth.action_scope("make_thing") == "one.thing:make"
        assert auth.check_scopes(["one.*"]) == ["one.*"]
        with pytest.raises(ValueError):  # in an app, only its dialects' scopes
            auth.check_scopes(["tasker.task:create"])


def test_the_tasker_descriptor_declares_what_shared_modules_no_longer_name():
    (tasker,) = [d for d in DIALECTS if d.name == "tasker"]
    assert auth.START_WORKFLOW in tasker.action_scopes
    assert tasker.action_scopes[auth.START_WORKFLOW] in tasker.scopes
    assert {"/health/ready", "/health/live", "/assets"} <= set(tasker.open_paths)
    assert callable(tasker.error_style)
