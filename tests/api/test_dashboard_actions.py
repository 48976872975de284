"""The dashboard's buttons, each through the engine: queues (pause, resume,
retry all failed, purge with its typed confirm), tasks (cancel, retry,
delete), schedules (pause, resume, run now, snooze), a workflow's step
(cancel); JSON answers for the script, 303 and a flash for plain forms."""

from __future__ import annotations

import pytest
from dashboard_client import act, login
from test_dashboard_pages import SCHEDULE, flow

from taskq.schedules import Schedules
from taskq.workflows import get


@pytest.fixture
def csrf(client):
    return login(client, "dashboard")


def test_pause_and_resume_a_queue(client, csrf, q):
    q.enqueue("app:job")
    resp = act(client, f"/dashboard/queues/{q.name}/pause", csrf)
    assert resp.get_json() == {"ok": True, "message": f"queue {q.name} paused"} and q.is_paused
    assert q.claim(1) == []
    assert act(client, f"/dashboard/queues/{q.name}/resume", csrf).status_code == 200
    assert not q.is_paused and len(q.claim(1)) == 1


def test_retry_all_failed(client, csrf, q):
    for _ in range(3):
        q.enqueue("app:job", max_retries=0)
    for lease in q.claim(3):
        lease.fail("boom")
    assert q.count("failed") == 3
    resp = act(client, f"/dashboard/queues/{q.name}/retry-failed", csrf)
    assert resp.get_json()["message"].startswith("3 failed tasks")
    assert q.count("failed") == 0 and q.count("queued") == 3


def test_purge_needs_the_queue_name_typed(client, csrf, q, r, keys):
    q.enqueue("app:job")
    for typed in ("", "defaul", "DEFAULT"):
        resp = act(client, f"/dashboard/queues/{q.name}/purge", csrf, confirm=typed)
        assert resp.status_code == 422 and resp.get_json()["error"]["code"] == "confirm_mismatch"
    assert q.count() == 1
    resp = act(client, f"/dashboard/queues/{q.name}/purge", csrf, confirm=q.name)
    assert resp.status_code == 200 and resp.get_json()["location"] == "/dashboard/queues"
    assert q.count() == 0 and not r.sismember(keys.queues, q.name)


def test_task_cancel_retry_delete(client, csrf, q):
    t = q.enqueue("app:job")
    assert act(client, f"/dashboard/tasks/{t.id}/cancel", csrf).status_code == 200
    assert q.get(t.id).status == "cancelled"
    assert act(client, f"/dashboard/tasks/{t.id}/retry", csrf).status_code == 200
    assert q.get(t.id).status == "queued"
    [lease] = q.claim(1)
    resp = act(client, f"/dashboard/tasks/{t.id}/delete", csrf)
    assert resp.status_code == 409  # running: not without force
    resp = act(client, f"/dashboard/tasks/{t.id}/cancel", csrf, mode="force")
    assert resp.status_code == 200 and q.get(t.id).status == "cancelled"
    resp = act(client, f"/dashboard/tasks/{t.id}/delete", csrf)
    assert resp.get_json()["location"] == f"/dashboard/queues/{q.name}" and q.get(t.id) is None


def test_acting_on_what_cannot_change_is_a_4xx(client, csrf, q):
    t = q.enqueue("app:job")
    assert act(client, f"/dashboard/tasks/{t.id}/retry", csrf).status_code == 409  # not failed
    assert act(client, f"/dashboard/tasks/{t.id}/cancel", csrf, mode="nuke").status_code == 422
    assert act(client, "/dashboard/tasks/default:ghost/cancel", csrf).status_code == 404
    assert act(client, "/dashboard/queues/ghost/pause", csrf).status_code == 404
    assert act(client, "/dashboard/schedules/ghost/pause", csrf).status_code == 404
    assert act(client, "/dashboard/workflows/ghost/steps/x/cancel", csrf).status_code == 404


def test_a_plain_form_post_redirects_back_with_a_message(client, csrf, q):
    t = q.enqueue("app:job")
    resp = act(client, f"/dashboard/tasks/{t.id}/cancel", csrf, json=False, next=f"/dashboard/tasks/{t.id}")
    assert resp.status_code == 303 and resp.headers["Location"] == f"/dashboard/tasks/{t.id}"
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert f"task {t.id}: cancelled" in page
    assert f"task {t.id}: cancelled" not in client.get(f"/dashboard/tasks/{t.id}").get_data(as_text=True)
    resp = act(client, f"/dashboard/tasks/{t.id}/retry", csrf, json=False, next="https://evil.example/")
    assert resp.headers["Location"] == "/dashboard/"


def test_schedule_pause_resume_run_now_snooze(client, csrf, r, prefix, q):
    store = Schedules(r, prefix)
    s = store.create(SCHEDULE)
    assert act(client, f"/dashboard/schedules/{s['id']}/pause", csrf).status_code == 200
    assert store.get(s["id"])["status"] == "paused"
    assert act(client, f"/dashboard/schedules/{s['id']}/resume", csrf).status_code == 200
    before = store.get(s["id"])
    assert before["status"] == "active"
    resp = act(client, f"/dashboard/schedules/{s['id']}/run-now", csrf)
    assert resp.status_code == 200 and "created" in resp.get_json()["message"]
    assert store.get(s["id"])["runs_total"] == 1
    for bad in ("", "0", "-5", "1.5", "604801", "9" * 50, "ten"):
        resp = act(client, f"/dashboard/schedules/{s['id']}/snooze", csrf, delay_seconds=bad)
        assert resp.status_code == 422, bad
    resp = act(client, f"/dashboard/schedules/{s['id']}/snooze", csrf, delay_seconds="3600")
    assert resp.status_code == 200
    assert store.get(s["id"])["next_run_at"] > before["next_run_at"]


def test_cancel_a_workflow_step(client, csrf, r, prefix):
    wf = flow(r, prefix)
    resp = act(client, f"/dashboard/workflows/{wf['id']}/steps/source/cancel", csrf)
    assert resp.get_json()["message"] == "step source: cancelled"
    assert [s["status"] for s in get(r, wf["id"], prefix=prefix)["steps"]] == ["cancelled", "cancelled"]
    resp = act(client, f"/dashboard/workflows/{wf['id']}/steps/source/cancel", csrf)
    assert resp.status_code == 409
    resp = act(client, f"/dashboard/workflows/{wf['id']}/steps/nope/cancel", csrf)
    assert resp.status_code == 404
