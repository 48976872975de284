"""Key schema versions and ``taskq migrate``.

The upgrade test runs the previous release's own code (the parent of the
commit that moved the TaskDriver keys under ``{td}``, taken from the git
history) to make real data through its REST API, then checks that this
release's processes refuse it in one line, that ``taskq migrate`` moves
every record (same value, same TTL) and changes nothing when run again, and
that the data then works through this release's API.
"""

from __future__ import annotations

import json
from datetime import datetime
import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis
from click.testing import CliRunner

from taskq.cli import main
from taskq.keys import Keys, TaskDriverKeys, TaskDriverKeysV1
from taskq.lua import call_with_keys
from taskq.migrations import MigrationError, migrate, move_key
from taskq.schema import CURRENT, SchemaNewer, SchemaOutdated
from taskq.startup import ready

ROOT = Path(__file__).resolve().parents[2]
PREVIOUS_RELEASE = "a62405303f7522b6bc7697cb48fc4f126e9157c5"
"""The parent of 540fb7b, which moved TaskDriverKeys from ``<prefix>:td:``
to ``<prefix>:{td}:`` without a migration."""


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.fixture(scope="module")
def old_code(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("previous-release")
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", PREVIOUS_RELEASE, "taskq", "api"],
                             capture_output=True)
    if archive.returncode != 0:
        pytest.skip(f"needs the git history ({archive.stderr.decode().strip()})")
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
    return folder


def old_release_data(old_code: Path, url: str, prefix: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKQ_")}
    env["PYTHONPATH"] = str(old_code)
    done = subprocess.run([sys.executable, str(Path(__file__).with_name("old_release_data.py")),
                           str(old_code), url, prefix],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def snapshot(client, prefix: str) -> dict[str, tuple[bytes, int]]:
    """Every key under ``prefix``: its DUMP and its PTTL."""
    return {key: (client.dump(key), client.pttl(key))
            for key in client.scan_iter(match=f"{prefix}:*", count=1000)}


def dumps(snap: dict) -> dict[str, bytes]:
    return {key: dump for key, (dump, _) in snap.items()}


def run_cli(*args: str, prefix: str, url: str):
    return CliRunner().invoke(main, [*args, "--url", url, "--prefix", prefix])


def one_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in text, text
    return lines[0]


def spawn_taskq(*args: str, url: str, prefix: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TASKQ_", "RQ_"))}
    env.update(REDIS_URL=url, TASKQ_PREFIX=prefix)
    return subprocess.run([sys.executable, "-m", "taskq.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.single_redis  # the previous release predates Redis Cluster support
def test_upgrade_from_the_previous_release(old_code, r, redis_url, prefix, make_app_for):
    made = old_release_data(old_code, redis_url, prefix)
    before = snapshot(r, prefix)
    old_keys = {k for k in before if k.startswith(f"{prefix}:td:")}
    v1 = TaskDriverKeysV1(prefix)
    assert len(old_keys) >= 12 and not any(":{td}:" in k for k in before)
    assert r.get(Keys(prefix).schema) is None

    # every kind of process refuses the old data in one line, writing nothing
    with pytest.raises(SchemaOutdated):
        ready(r, prefix)
    refused = run_cli("info", prefix=prefix, url=redis_url)
    assert refused.exit_code == 1
    assert "key schema 1" in one_line(refused.output) and "taskq migrate" in refused.output
    for args in (["worker", "--burst", "default"], ["scheduler"]):
        done = spawn_taskq(*args, url=redis_url, prefix=prefix)
        assert done.returncode == 1, done.stderr
        assert "run `taskq migrate`" in one_line(done.stderr), done.stderr
    with pytest.raises(SchemaOutdated):
        make_app_for(redis_url, prefix)
    assert dumps(snapshot(r, prefix)) == dumps(before)  # no process wrote beside the old keys

    moved = run_cli("migrate", prefix=prefix, url=redis_url)
    assert moved.exit_code == 0, moved.output
    assert f"was 1): moved {len(old_keys)} keys" in moved.output
    after = snapshot(r, prefix)
    assert not any(k.startswith(f"{prefix}:td:") for k in after)
    for key in old_keys:
        dump, ttl = after[v1.renamed(key)]
        assert dump == before[key][0], key
        assert (ttl > 0) == (before[key][1] > 0) and ttl <= before[key][1], key
    assert r.get(Keys(prefix).schema) == str(CURRENT)

    again = run_cli("migrate", prefix=prefix, url=redis_url)
    assert again.exit_code == 0 and "nothing to move" in again.output, again.output
    assert dumps(snapshot(r, prefix)) == dumps(after)  # twice = once

    # the records work through this release's API
    web = make_app_for(redis_url, prefix).test_client()
    admin = admin_headers()
    listed = web.get("/api/projects", headers=admin).json["data"]
    assert sorted(p["name"] for p in listed) == ["alpha", "beta"]
    for pid, old_view in made["views"].items():
        view = web.get(f"/api/projects/{pid}", headers=admin).json["data"]
        for field in ("name", "description", "instructions", "status", "config"):
            assert view[field] == old_view[field], field
        # the same instant: the previous release left out milliseconds of .000
        # (1 run in 1,000 made one so), this one always writes them
        assert instant(view["createdAt"]) == instant(old_view["createdAt"])
    alpha = made["projects"]["alpha"]
    types = web.get(f"/api/projects/{alpha}/task-types", headers=admin).json["data"]
    assert {t["id"] for t in types} == set(made["types"].values())
    assert web.post("/api/projects", json={"name": "alpha"}, headers=admin).status_code == 409
    session = {"Authorization": f"Bearer {made['token']}"}
    me = web.get("/api/auth/session", headers=session)
    assert me.status_code == 200 and me.json["data"]["agentName"] == "agent-1"
    done = web.post(f"/api/tasks/{made['claimed']}/complete", headers=session,
                    json={"agentName": "agent-1", "result": "ok"})
    assert done.status_code == 200, done.json

    # and the processes start
    assert run_cli("info", prefix=prefix, url=redis_url).exit_code == 0
    burst = spawn_taskq("worker", "--burst", "default", url=redis_url, prefix=prefix)
    assert burst.returncode == 0 and "Traceback" not in burst.stderr, burst.stderr


SECRET = "migrate-test-secret-0123456789abcdef"


@pytest.fixture
def make_app_for():
    """An app that makes its own client from REDIS_URL, as the web process does."""
    from api import create_app

    def make(url: str, prefix: str):
        return create_app({"REDIS_URL": url, "TASKQ_PREFIX": prefix, "TASKQ_JWT_SECRET": SECRET,
                           "TASKQ_RATE_LIMIT": "100000/60"})
    return make


def admin_headers() -> dict:
    from api.auth import mint_token

    return {"Authorization": f"Bearer {mint_token(SECRET, 'operator', ['admin'], 600)}"}


# -- versions without the previous release ----------------------------------------

def test_a_new_redis_gets_the_current_version_stamped(r, prefix, redis_url):
    schema = Keys(prefix).schema
    assert ready(r, prefix) and r.get(schema) == str(CURRENT)
    assert ready(r, prefix)  # and starts again
    other = f"{prefix}-b"
    try:
        result = run_cli("migrate", prefix=other, url=redis_url)
        assert result.exit_code == 0 and "nothing to move" in result.output, result.output
        assert r.get(Keys(other).schema) == str(CURRENT)
    finally:
        r.delete(Keys(other).schema)


def test_the_start_check_is_one_get(counted, prefix):
    assert ready(counted, prefix)  # stamps
    counted.counts.clear()
    assert ready(counted, prefix)
    assert dict(counted.counts) == {"INFO": 1, "GET": 1}


@pytest.mark.parametrize("stored", ["3", "99"])
def test_data_of_a_newer_release_is_refused_and_not_migrated(r, prefix, redis_url, stored):
    r.set(Keys(prefix).schema, stored)
    with pytest.raises(SchemaNewer, match=f"schema {stored}, written by a newer taskq"):
        ready(r, prefix)
    result = run_cli("migrate", prefix=prefix, url=redis_url)
    assert result.exit_code == 1 and "upgrade taskq" in one_line(result.output)
    assert r.get(Keys(prefix).schema) == stored


@pytest.mark.parametrize("stored", ["", "two", "0", "-1", "2.5", "9" * 400])
def test_a_version_that_is_not_one_is_refused_in_one_line(r, prefix, redis_url, stored):
    r.set(Keys(prefix).schema, stored)
    result = run_cli("info", prefix=prefix, url=redis_url)
    assert result.exit_code == 1 and "not a key-schema version" in one_line(result.output)


def test_a_prefix_has_its_own_version(r, prefix):
    other = f"{prefix}-b"
    r.zadd(TaskDriverKeysV1(other).indexes[0], {"p": 1})
    try:
        assert ready(r, prefix)
        with pytest.raises(SchemaOutdated):
            ready(r, other)
    finally:
        r.delete(TaskDriverKeysV1(other).indexes[0])


# -- moving keys (on a cluster too: old and new names hash to other slots) -----------

def test_migrate_moves_every_type_with_its_ttl_across_slots(r, prefix):
    v1, td = TaskDriverKeysV1(prefix), TaskDriverKeys(prefix)
    r.zadd(f"{prefix}:td:projects", {"p1": 1, "p2": 2})
    r.hset(f"{prefix}:td:project:p1", mapping={"name": "alpha", "config": "{}"})
    r.set(f"{prefix}:td:type:t1", '{"name": "review", "big": 12345678901234567890}')
    r.hset(f"{prefix}:td:session:abc", mapping={"agent": "a"})
    r.pexpire(f"{prefix}:td:session:abc", 60_000)
    r.sadd(f"{prefix}:td:odd-set", "x", "y")  # whatever the old layout held
    report = migrate(r, prefix)
    assert (report.found, report.moved, report.merged) == (1, 5, 0)
    assert r.zrange(td.projects, 0, -1, withscores=True) == [("p1", 1.0), ("p2", 2.0)]
    assert r.hgetall(td.project("p1")) == {"name": "alpha", "config": "{}"}
    assert r.get(td.task_type("t1")) == '{"name": "review", "big": 12345678901234567890}'
    assert 50_000 < r.pttl(td.session("abc")) <= 60_000
    assert r.smembers(f"{td.base}odd-set") == {"x", "y"}
    assert not list(r.scan_iter(match=v1.pattern))


def test_an_existing_new_key_gets_the_old_content_merged_in(r, prefix):
    td = TaskDriverKeys(prefix)
    # a draining process of the previous release wrote these after a first run
    r.hset(f"{prefix}:td:project:p1", mapping={"description": "later"})
    r.zadd(f"{prefix}:td:projects", {"p2": 2})
    r.set(f"{prefix}:td:type:t1", "old-release value")
    r.hset(td.project("p1"), mapping={"name": "alpha", "description": "earlier"})
    r.zadd(td.projects, {"p1": 1})
    r.set(td.task_type("t1"), "value")
    # and one copied before a run stopped short of deleting the original
    r.hset(f"{prefix}:td:project:p3", mapping={"name": "gamma"})
    r.hset(td.project("p3"), mapping={"name": "gamma"})
    report = migrate(r, prefix)
    assert report.merged == 3 and report.moved == 1
    assert r.hgetall(td.project("p1")) == {"name": "alpha", "description": "later"}
    assert r.zrange(td.projects, 0, -1) == ["p1", "p2"]
    assert r.get(td.task_type("t1")) == "old-release value"
    assert not list(r.scan_iter(match=TaskDriverKeysV1(prefix).pattern))


def test_what_cannot_be_merged_stays_and_the_version_is_not_stamped(r, prefix):
    td = TaskDriverKeys(prefix)
    r.rpush(f"{prefix}:td:odd-list", "a")
    r.rpush(f"{td.base}odd-list", "b")
    r.hset(f"{prefix}:td:projects", "p1", "1")  # another type than the new key's
    r.zadd(td.projects, {"p2": 2})
    r.set(f"{prefix}:td:type:t1", "movable")
    with pytest.raises(MigrationError, match=r"and 1 more\); the other keys were moved") as exc:
        migrate(r, prefix)
    assert "\n" not in str(exc.value)
    assert r.lrange(f"{prefix}:td:odd-list", 0, -1) == ["a"]
    assert r.hgetall(f"{prefix}:td:projects") == {"p1": "1"}
    assert r.get(td.task_type("t1")) == "movable" and not r.exists(f"{prefix}:td:type:t1")
    assert r.get(Keys(prefix).schema) is None
    with pytest.raises(SchemaOutdated):  # processes still refuse the data
        ready(r, prefix)


def test_a_key_written_between_copy_and_delete_is_not_lost(r, prefix):
    src, dst = f"{prefix}:td:project:p1", TaskDriverKeys(prefix).project("p1")
    r.hset(src, "name", "alpha")
    payload = r.dump(src)  # bytes, whatever the client decodes
    r.hset(src, "description", "written meanwhile")
    assert call_with_keys(r, "unlink_unchanged", [src], payload) == 0  # changed: kept
    assert move_key(r, src, dst) == "moved"
    assert r.hgetall(dst) == {"name": "alpha", "description": "written meanwhile"}
    assert r.exists(src) == 0
    assert move_key(r, src, dst) == "gone"


def test_a_glob_in_the_prefix_matches_only_itself(r, prefix):
    odd = f"{prefix}[*]"
    r.zadd(f"{odd}:td:projects", {"p": 1})
    r.zadd(f"{prefix}X:td:projects", {"p": 1})  # what the unescaped pattern would also match
    try:
        assert migrate(r, odd).moved == 1
        assert r.exists(f"{prefix}X:td:projects") == 1
    finally:
        r.delete(f"{odd}:{{td}}:projects", f"{prefix}X:td:projects", Keys(odd).schema)
