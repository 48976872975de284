"""Run under the previous release's code (test_migrate.py puts it first on
sys.path): fill a key prefix with TaskDriver data through that release's
own REST API, the way its users did, and print what was made as JSON.

    python old_release_data.py <old code folder> <redis url> <prefix>
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import redis

SECRET = "old-release-secret-0123456789abcdef"


def main(old_code: str, url: str, prefix: str) -> None:
    from api import create_app
    from api.auth import mint_token
    import taskq.keys

    # the previous release's modules, not the ones being tested
    assert Path(taskq.keys.__file__).resolve().is_relative_to(Path(old_code).resolve())
    client = redis.Redis.from_url(url, decode_responses=True)
    app = create_app({"REDIS": client, "TASKQ_PREFIX": prefix, "TASKQ_JWT_SECRET": SECRET,
                      "TASKQ_RATE_LIMIT": "100000/60", "TASKQ_LOGIN_RATE_LIMIT": "100000/60"})
    web = app.test_client()
    admin = {"Authorization": f"Bearer {mint_token(SECRET, 'operator', ['admin'], 600)}"}

    def ok(resp, status=200):
        assert resp.status_code == status, (resp.status_code, resp.json)
        return resp.json["data"]

    def project(name, **config):
        body = {"name": name, "description": f"{name} project", "instructions": "Be careful",
                "config": config}
        return ok(web.post("/api/projects", json=body, headers=admin), 201)

    alpha = project("alpha", defaultMaxRetries=5, defaultLeaseDurationMinutes=20)
    beta = project("beta")
    gone = project("gone")
    ok(web.delete(f"/api/projects/{gone['id']}", headers=admin))
    ok(web.put(f"/api/projects/{beta['id']}", json={"description": "beta, renamed"},
               headers=admin))
    review = ok(web.post(f"/api/projects/{alpha['id']}/task-types", headers=admin, json={
        "name": "review", "template": "Review {{repo}} for {{aspect}}",
        "variables": ["repo", "aspect"]}), 201)
    free = ok(web.post(f"/api/projects/{alpha['id']}/task-types", headers=admin, json={
        "name": "free-form", "duplicateHandling": "allow"}), 201)
    ok(web.post(f"/api/projects/{beta['id']}/task-types", headers=admin, json={
        "name": "beta-type", "duplicateHandling": "allow"}), 201)
    tasks = ok(web.post(f"/api/projects/{alpha['id']}/tasks/bulk", headers=admin, json={
        "tasks": [{"typeId": free["id"], "instructions": f"job {i}"} for i in range(3)]}), 201)
    login = ok(web.post("/api/auth/login", json={"agentName": "agent-1",
                                                  "projectId": alpha["id"]}))
    session = {"Authorization": f"Bearer {login['token']}"}
    claimed = web.post("/api/agents/agent-1/next-task", json={}, headers=session)
    assert claimed.status_code == 200, claimed.json
    views = {p["id"]: ok(web.get(f"/api/projects/{p['id']}", headers=admin))
             for p in (alpha, beta)}
    print(json.dumps({
        "projects": {"alpha": alpha["id"], "beta": beta["id"], "gone": gone["id"]},
        "types": {"review": review["id"], "free-form": free["id"]},
        "tasks": [t["id"] for t in tasks["tasks"]],
        "token": login["token"],
        "claimed": claimed.json["data"]["id"] if claimed.json.get("data") else None,
        "views": views,
    }))


if __name__ == "__main__":
    main(*sys.argv[1:4])
