"""The answers of one task (POST /api/tasks, GET and PUT /api/tasks/{id})
are built with api.schemas.FlatDump instead of marshmallow's dump: the same
body, byte for byte, for a task in any state of either dialect, and a
schema FlatDump cannot copy exactly is refused when it is made."""

from __future__ import annotations

import json

import pytest
from apihelpers import EXAMPLE_TASK
from marshmallow import Schema, fields, post_dump
from test_taskdriver_support import ok, project, task, task_type

from api.envelope import ok as envelope_ok
from api.schemas import FlatDump, envelope
from api.shared_tasks.schemas import UnionTaskSchema
from api.shared_tasks.serializers import union_view

BODY = {k: v for k, v in EXAMPLE_TASK.items() if k != "scheduled_at"}


def _tasks(client, admin, make_queue):
    """Ids of tasks in every state, both dialects, odd values included."""
    ids = [ok(client.post("/api/tasks", json=body, headers=admin), 201)["id"] for body in (
        BODY, {**BODY, "scheduled_at": "2999-01-01T00:00:00.123Z"},
        {"name": "n", "command": "c", "description": None, "tags": []},
        {**BODY, "name": "ünïcode \u2028 \"quoted\"", "tags": ["a" * 128]})]
    dts = make_queue("dts")
    ids.append(dts.enqueue_call(None, depends_on=[ids[1]], meta={"name": 7, "description": 12}).id)
    running, done, failed, cancelled = (dts.enqueue_call(None, meta={"name": f"x{i}"}, timeout=2.5).id
                                        for i in range(4))
    leases = {lease.task.id: lease for lease in dts.claim(n=100, worker="w-1")}
    leases[done].complete({"big": 2 ** 60, "list": [], "obj": {}})
    leases[failed].fail("boom", retryable=False)
    dts.cancel(cancelled, mode="force")
    ids += [running, done, failed, cancelled]
    other = make_queue("python")
    ids.append(other.enqueue_call("app:f", args=[1], meta={"checkpoint_enabled": "yes", "command": 4.5}).id)
    ids.append(other.enqueue_call("app:g", priority=-3).id)
    p = project(client, admin)
    tt = task_type(client, admin, p["id"])
    ids += [task(client, admin, p["id"], tt["id"])["id"] for _ in range(3)]
    return ids


def test_the_answers_are_marshmallows_dump_byte_for_byte(app, client, admin, make_queue):
    schema, inner, flat = envelope(UnionTaskSchema)(), UnionTaskSchema(), FlatDump(UnionTaskSchema)
    ids = _tasks(client, admin, make_queue)
    tasks = app.extensions["taskq"].tasks
    for task_id in ids:
        view = union_view(tasks.get(task_id))
        assert json.dumps(flat(view)) == json.dumps(inner.dump(view)), task_id
        resp = client.get(f"/api/tasks/{task_id}", headers=admin)
        with app.app_context():
            expected = app.json.response(schema.dump(envelope_ok(view))).get_data(as_text=True)
        assert resp.status_code == 200 and resp.get_data(as_text=True) == expected, task_id
    created = client.post("/api/tasks", json=BODY, headers=admin)
    view = union_view(tasks.get(created.json["data"]["id"]))
    with app.app_context():
        assert created.status_code == 201 and created.get_data(as_text=True) == app.json.response(
            schema.dump(envelope_ok(view))).get_data(as_text=True)
    changed = client.put(f"/api/tasks/{ids[1]}", json={"priority": 2}, headers=admin)  # the delayed one
    view = union_view(tasks.get(ids[1]))
    with app.app_context():
        assert changed.status_code == 200 and changed.get_data(as_text=True) == app.json.response(
            schema.dump(envelope_ok(view))).get_data(as_text=True)


class _Nested(Schema):
    a = fields.Nested(UnionTaskSchema)


class _Keyed(Schema):
    a = fields.String(data_key="b")


class _Hooked(Schema):
    a = fields.String()

    @post_dump
    def shout(self, data, **kwargs):
        return data


class _Computed(Schema):
    a = fields.Method("get_a")

    def get_a(self, obj):
        return 1


class _Defaulted(Schema):
    a = fields.String(dump_default="x")


class _Renamed(Schema):
    a = fields.String(attribute="b")


class _ListOfNested(Schema):
    a = fields.List(fields.Nested(UnionTaskSchema))


@pytest.mark.parametrize("schema", [_Nested, _Keyed, _Hooked, _Computed, _Defaulted, _Renamed, _ListOfNested])
def test_a_schema_it_cannot_copy_is_refused(schema):
    with pytest.raises(TypeError):
        FlatDump(schema)
