"""Changing and cancelling steps of a workflow, and listing workflows."""

from __future__ import annotations

import pytest

from taskq.errors import InvalidState, TaskqValueError
from taskq.workflows import (Registry, StepNotFound, cancel_step, create, get, list_workflows,
                             update_step)

from test_workflows_engine import S, run_until_done  # noqa: E402  (same folder)


def reg():
    r = Registry()
    r.register({"namespace": "test", "name": "flow", "version": "1.0.0", "step_templates": [
        {"name": "source", "handler_class": f"{S}.Source"},
        {"name": "after", "handler_class": f"{S}.after", "depends_on_step": "source"}]})
    r.register({"namespace": "test", "name": "other", "version": "2.0.0", "step_templates": [
        {"name": "only", "handler_class": f"{S}.Source"}]})
    return r


def test_patched_inputs_and_retry_limit_are_what_the_step_sees(r, prefix, redis_url):
    wf = create(r, "test.flow", context={"n": 3}, registry=reg(), prefix=prefix)
    step = update_step(r, wf["id"], "source", retry_limit=7, inputs={"timeout": 30}, prefix=prefix)
    assert step["retry_limit"] == 7 and step["inputs"] == {"timeout": 30}
    wf = run_until_done(r, redis_url, prefix, wf["id"])
    assert wf["steps"][0]["results"] == {"n": 3, "seen_inputs": {"timeout": 30}}
    with pytest.raises(InvalidState):  # finished: nothing changes any more
        update_step(r, wf["id"], "source", inputs={"timeout": 1}, prefix=prefix)
    assert get(r, wf["id"], prefix=prefix)["steps"][0]["inputs"] == {"timeout": 30}


@pytest.mark.parametrize("changes, field", [
    ({"retry_limit": -1}, "retry_limit"), ({"retry_limit": True}, "retry_limit"),
    ({"retry_limit": "5"}, "retry_limit"), ({"retry_limit": 10 ** 6}, "retry_limit"),
    ({"inputs": [1, 2]}, "inputs"), ({"inputs": {"x": float("nan")}}, "inputs"), ({}, "nothing"),
])
def test_bad_step_changes_are_refused_and_change_nothing(r, prefix, changes, field):
    wf = create(r, "test.flow", registry=reg(), prefix=prefix)
    with pytest.raises(TaskqValueError, match=field):
        update_step(r, wf["id"], "source", prefix=prefix, **changes)
    s = get(r, wf["id"], prefix=prefix)["steps"][0]
    assert s["inputs"] == {} and s["retry_limit"] == 3
    with pytest.raises(StepNotFound):
        update_step(r, wf["id"], "ghost", inputs={}, prefix=prefix)


def test_cancelling_a_step_cancels_the_steps_that_need_it(r, prefix, redis_url):
    wf = create(r, "test.flow", registry=reg(), prefix=prefix)
    step = cancel_step(r, wf["id"], "source", prefix=prefix)
    assert step["status"] == "cancelled"
    wf = get(r, wf["id"], prefix=prefix)
    assert [s["status"] for s in wf["steps"]] == ["cancelled", "cancelled"]
    assert wf["status"] == "cancelled"
    with pytest.raises(InvalidState):
        cancel_step(r, wf["id"], "source", prefix=prefix)


def test_list_workflows_filters_and_pages(r, prefix, redis_url):
    rg = reg()
    ids = [create(r, "test.flow", registry=rg, prefix=prefix)["id"] for _ in range(3)]
    other = create(r, "test.other", registry=rg, prefix=prefix)["id"]
    page, total = list_workflows(r, namespace="test", name="flow", prefix=prefix, limit=2)
    assert total == 3 and [w["id"] for w in page] == ids[::-1][:2]
    page, total = list_workflows(r, version="2.0.0", prefix=prefix)
    assert total == 1 and page[0]["id"] == other
    cancel_step(r, wf_id := ids[0], "source", prefix=prefix)
    page, total = list_workflows(r, status="cancelled", prefix=prefix)
    assert total == 1 and page[0]["id"] == wf_id
    assert list_workflows(r, status="pending", prefix=prefix)[1] == 3
    with pytest.raises(TaskqValueError, match="status"):
        list_workflows(r, status="done", prefix=prefix)
