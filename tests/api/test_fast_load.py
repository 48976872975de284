"""api.fast_load: a precompiled load says the same as marshmallow or
stays out of it, for every JSON body schema of the API, and the create
route answers the same errors whichever path a body takes."""

from __future__ import annotations

import importlib
import pkgutil

import marshmallow as ma
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import api
from api.dialects.dts.schemas_tasks import TaskCreateSchema
from api.fast_load import compile_load


def _schemas() -> list[type[ma.Schema]]:
    found = {}
    for mod in pkgutil.walk_packages(api.__path__, "api."):
        if mod.name.endswith(("cli", "gunicorn_conf")):
            continue
        module = importlib.import_module(mod.name)
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, ma.Schema) and value.__module__ == mod.name:
                found[f"{value.__module__}.{value.__name__}"] = value
    return [found[k] for k in sorted(found)]


SCHEMAS = [s for s in _schemas() if compile_load(s()) is not None]
ODD = [None, True, False, 0, 1, -1, 7, 10, 11, 101, 7.0, 7.5, "7", "", "x", "true", "a" * 300, "a" * 5000,
       [], ["a"], ["a", ""], [1], ["a"] * 51, {}, {"a": 1}, "2030-01-01T00:00:00Z", 2 ** 70]


def test_the_create_schema_and_most_bodies_compile():
    assert TaskCreateSchema in SCHEMAS
    assert len(SCHEMAS) >= 10


@pytest.mark.parametrize("schema_cls", SCHEMAS, ids=lambda s: s.__name__)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_fast_load_is_marshmallow_or_silent(schema_cls, data):
    schema = schema_cls()
    fast = compile_load(schema)
    names = sorted(schema.load_fields) + ["unknown_field"]
    required = [n for n, f in schema.load_fields.items() if f.required]
    keys = data.draw(st.lists(st.sampled_from(names), unique=True, max_size=len(names)))
    if data.draw(st.integers(0, 4)):  # mostly with every required field, so bodies get accepted
        keys = sorted(set(keys) | set(required))
    body = {k: data.draw(st.sampled_from(ODD)) for k in keys}
    got = fast(body)
    if got is None:
        return
    assert got == schema.load(body)  # accepted: exactly marshmallow's answer (it must not raise)
    assert list(got) == list(schema.load(body))


def test_valid_create_bodies_take_the_fast_path_with_defaults():
    fast = compile_load(TaskCreateSchema())
    body = {"name": "n", "command": "c", "tags": ["a", "b"], "priority": 7, "description": None}
    assert fast(body) == TaskCreateSchema().load(body)
    assert fast(body)["max_retries"] == 3 and fast(body)["timeout_seconds"] == 3600
    for bad in ({"name": "n"}, {"name": "n", "command": "c", "priority": 11},
                {"name": "n", "command": "c", "priority": True}, {"name": "n", "command": "c", "x": 1},
                {"name": "", "command": "c"}, {"name": "n", "command": "c", "tags": [""]},
                {"name": "n", "command": "c", "priority": "7"}, ["name"]):
        assert fast(bad) is None


BAD_BODIES = [
    {}, {"name": "n"}, {"name": "n", "command": "c", "priority": 11}, {"name": "n", "command": "c", "x": 1},
    {"name": "n", "command": "c", "priority": True}, {"name": "", "command": ""},
    {"name": "n", "command": "c", "tags": ["a", ""]}, {"name": "n", "command": "c", "scheduled_at": "soon"},
    {"name": 5, "command": None}, ["a"], "text", 7,
]


@pytest.mark.parametrize("body", BAD_BODIES, ids=str)
def test_create_errors_are_marshmallows(make_app, admin, body, monkeypatch):
    """The 4xx of each bad body, with and without the fast path, is the same."""
    headers = {**admin, "X-Request-ID": "req-same"}
    fast_on = make_app().test_client().post("/api/tasks", json=body, headers=headers)
    monkeypatch.setattr("api.blueprint.compile_load", lambda schema: None)
    fast_off = make_app().test_client().post("/api/tasks", json=body, headers=headers)
    assert fast_on.status_code == fast_off.status_code and 400 <= fast_on.status_code < 500
    untimed = lambda r: {k: v for k, v in r.get_json().items() if k != "timestamp"}  # noqa: E731
    assert untimed(fast_on) == untimed(fast_off)
