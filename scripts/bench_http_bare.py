"""The bare endpoint scripts/bench_http.py measures ``POST /api/tasks``
against: a Flask app whose POST /api/tasks parses the JSON body, makes two
Redis calls (INCR for an id, HSET of the body) and answers 201 with the id;
no auth, no rate limit, no validation, no metrics, no envelope. Served by
gunicorn in the same shape as the real one (``bench_http_bare:app``).
"""

import json
import os

import redis
from flask import Flask, jsonify, request

app = Flask(__name__)
r = redis.Redis.from_url(os.environ["REDIS_URL"], decode_responses=True)
PREFIX = os.environ.get("BENCH_BARE_PREFIX", "bare")


@app.post("/api/tasks")
def create():
    body = request.get_json()
    task_id = r.incr(f"{PREFIX}:id")
    r.hset(f"{PREFIX}:task:{task_id}", mapping={"body": json.dumps(body)})
    return jsonify({"id": task_id}), 201
