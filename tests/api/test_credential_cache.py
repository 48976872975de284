"""Credentials a web process keeps (api.credential_cache): a busy caller
costs no signature check and no extra round trip, and every check still
holds at once: a revoked or changed API key at its next request, in every
process (its record is read again in the round trip that counts the rate
limits), an expired JWT at its exp, a forged one always."""

from __future__ import annotations

import json
import threading
import time

import jwt
import pytest
import redis
import redis.client
from apihelpers import EXAMPLE_TASK, SECRET, bearer

from api import auth
from api.credential_cache import MAX_ENTRIES, CredentialCache
from taskq.keys import ApiKeys

BODY = {k: v for k, v in EXAMPLE_TASK.items() if k != "scheduled_at"}


def _key(r, prefix, scopes=("tasks:write",), **kw):
    key, rec = auth.create_api_key(r, ApiKeys(prefix), "cached", list(scopes), **kw)
    return {"Authorization": f"ApiKey {key}"}, rec


@pytest.mark.parametrize("limits", ["100000/60", "off"])
def test_a_revoked_key_is_refused_at_its_next_request_by_every_process(make_app, r, prefix, redis_url, limits):
    one, two = (make_app(TASKQ_RATE_LIMIT=limits, TASKQ_RATE_LIMIT_IP=limits).test_client() for _ in range(2))
    headers, rec = _key(r, prefix)
    for client in (one, two, one, two):                      # both processes know the key now
        assert client.post("/api/tasks", json=BODY, headers=headers).status_code == 201
    other = redis.Redis.from_url(redis_url)                  # the CLI's revoke: another client, bytes
    try:
        assert auth.revoke_api_key(other, ApiKeys(prefix), rec["id"]) is True
    finally:
        other.close()
    for client in (one, two):
        resp = client.post("/api/tasks", json=BODY, headers=headers)
        assert resp.status_code == 401 and resp.json["error"]["code"] == "invalid_api_key"
        assert client.get("/api/tasks", headers=headers).status_code == 401


def test_a_changed_key_record_counts_at_the_next_request(client, r, prefix):
    headers, rec = _key(r, prefix, scopes=("tasks:write",))
    assert client.post("/api/tasks", json=BODY, headers=headers).status_code == 201
    keys = ApiKeys(prefix)
    field = next(iter(r.hgetall(keys.api_keys)))
    r.hset(keys.api_keys, field, json.dumps({**rec, "scopes": ["tasks:read"], "name": "narrowed"}))
    resp = client.post("/api/tasks", json=BODY, headers=headers)
    assert resp.status_code == 403 and resp.json["error"]["code"] == "insufficient_scope"
    assert client.get("/api/tasks", headers=headers).status_code == 200


def test_a_known_key_costs_no_round_trip_of_its_own(make_app, r, prefix, monkeypatch):
    """Rate limits on: the key's record rides with the budget; the create is
    then one more round trip (the enqueue): two in all, as a bare endpoint."""
    app = make_app(TASKQ_METRICS=False)
    client = app.test_client()
    headers, _ = _key(r, prefix)
    assert client.post("/api/tasks", json=BODY, headers=headers).status_code == 201  # learns the key
    trips: list = []
    real_command, real_execute = r.execute_command, redis.client.Pipeline.execute

    def command(*args, **options):
        trips.append([str(args[0]).upper()])
        return real_command(*args, **options)

    def execute(pipe, *args, **kwargs):
        if pipe.connection_pool is r.connection_pool:
            trips.append([str(c[0][0]).upper() for c in pipe.command_stack])
        return real_execute(pipe, *args, **kwargs)

    app.extensions["taskq"].last_beat = time.time() + 3600  # no instance heartbeat while counting
    monkeypatch.setattr(r, "execute_command", command)
    monkeypatch.setattr(redis.client.Pipeline, "execute", execute)
    assert client.post("/api/tasks", json=BODY, headers=headers).status_code == 201
    monkeypatch.undo()
    assert trips == [["SET", "INCRBY", "HGET"], ["EVALSHA"]]


def test_an_unknown_key_is_refused_and_not_kept(client, r, prefix):
    headers = {"Authorization": "ApiKey tq_not-a-key"}
    for _ in range(2):
        resp = client.get("/api/tasks", headers=headers)
        assert resp.status_code == 401 and resp.json["error"]["code"] == "invalid_api_key"
    assert client.application.extensions["taskq"].credentials.key(auth._key_hash("tq_not-a-key")) is None


def test_a_kept_token_is_refused_once_it_expires(client):
    headers = bearer("tasks:write", ttl=2)
    exp = jwt.decode(headers["Authorization"].split()[1], options={"verify_signature": False})["exp"]
    assert client.post("/api/tasks", json=BODY, headers=headers).status_code == 201
    while time.time() < exp:  # the token's own clock: wait for exp to pass
        time.sleep(0.05)
    resp = client.post("/api/tasks", json=BODY, headers=headers)
    assert resp.status_code == 401 and resp.json["error"]["code"] == "token_expired"


def test_forged_and_foreign_tokens_are_refused_whatever_is_kept(make_app):
    client = make_app().test_client()
    good = bearer("admin")
    assert client.get("/api/tasks", headers=good).status_code == 200
    token = good["Authorization"].split()[1]
    head, payload, sig = token.split(".")
    forged = f"{head}.{payload}.{sig[:-2]}{'AA' if not sig.endswith('AA') else 'BB'}"
    resp = client.get("/api/tasks", headers={"Authorization": f"Bearer {forged}"})
    assert resp.status_code == 401 and resp.json["error"]["code"] == "invalid_token"
    other = make_app(TASKQ_JWT_SECRET="another-secret-0123456789abcdef0123").test_client()
    assert other.get("/api/tasks", headers=good).status_code == 401  # each app keeps its own
    assert client.get("/api/tasks", headers=good).status_code == 200


def test_each_kind_keeps_a_bounded_number(monkeypatch):
    cache = CredentialCache()
    for i in range(MAX_ENTRIES + 10):
        cache.keep_key(f"h{i}", "{}", i)
        cache.keep_token(f"t{i}", time.time() + 60, i)
    assert len(cache._keys) <= MAX_ENTRIES and len(cache._tokens) <= MAX_ENTRIES
    assert cache.key(f"h{MAX_ENTRIES + 9}") == MAX_ENTRIES + 9
    assert cache.key(f"h{MAX_ENTRIES + 9}", "{other}") is None  # another record: not this principal
    cache.keep_token("bad-exp", "soon", 1)
    assert cache.token("bad-exp") is None


def test_threads_sharing_the_cache_each_see_their_own_caller(make_app, r, prefix):
    app = make_app()
    keys = [_key(r, prefix, scopes=("tasks:write",))[0] for _ in range(3)] + [_key(r, prefix, scopes=("tasks:read",))[0]]
    errors: list = []

    def run(headers, want):
        client = app.test_client()
        for _ in range(20):
            got = client.post("/api/tasks", json=BODY, headers=headers).status_code
            if got != want:
                errors.append((want, got))

    threads = [threading.Thread(target=run, args=(h, 201 if i < 3 else 403)) for i, h in enumerate(keys)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors


def test_the_secret_stays_out_of_the_cache(client):
    headers = bearer("admin")
    client.get("/api/tasks", headers=headers)
    kept = client.application.extensions["taskq"].credentials
    token = headers["Authorization"].split()[1]
    assert token not in repr(kept._tokens) and SECRET not in repr(kept._tokens)
