"""The Tasker views of a workflow caught between its record's write and its
steps' enqueue: pending everywhere, never cancelled (the engine's side is
tests/integration/test_workflows_creation_race.py)."""

from __future__ import annotations

import threading

from tasker_helpers import PAYMENT, examples  # noqa: F401  (fixture)

from taskq import Queue
from taskq.keys import WorkflowKeys


def test_a_workflow_whose_steps_are_not_enqueued_yet_is_pending(app, admin, examples, r, prefix,
                                                                   monkeypatch):
    reached, go = threading.Event(), threading.Event()
    real = Queue.enqueue_specs

    def paused(self, specs):
        reached.set()
        assert go.wait(30)
        return real(self, specs)

    monkeypatch.setattr(Queue, "enqueue_specs", paused)
    answer = {}
    creator = threading.Thread(target=lambda: answer.update(resp=app.test_client().post(
        "/tasker/tasks", json=PAYMENT, headers=admin)), daemon=True)
    creator.start()
    assert reached.wait(30)
    client = app.test_client()
    [wid] = r.zrange(WorkflowKeys(prefix).index, 0, -1)
    shown = client.get(f"/tasker/tasks/{wid}", headers=admin).json
    assert shown["status"] == "pending"
    steps = client.get(f"/tasker/tasks/{wid}/workflow_steps", headers=admin).json
    assert {s["status"] for s in steps} == {"pending"}
    cancelled = client.get("/tasker/tasks?status=cancelled", headers=admin).json
    assert cancelled["pagination"]["total_count"] == 0
    pending = client.get("/tasker/tasks?status=pending", headers=admin).json
    assert [t["id"] for t in pending["tasks"]] == [wid]
    go.set()
    creator.join(30)
    assert answer["resp"].status_code == 201 and answer["resp"].json["id"] == wid
    assert client.get("/tasker/analytics/performance", headers=admin).json[
        "task_statistics"]["cancelled"] == 0
