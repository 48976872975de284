"""Many requests at once on one app in a threaded server (as gunicorn's
threads serve it): its shared services and cached Queue objects answer
each request as if it were alone, never with a 500 nor a task made twice."""

from __future__ import annotations

import threading

import requests
from test_taskdriver_support import live_server

CLIENTS = 50
EACH = 20


def test_concurrent_creates_each_make_one_task(app, admin, dts):
    # A fresh app: every thread's first create meets a Queue that has not
    # registered its name yet, the moment the shared flag used to mislead.
    start = threading.Barrier(CLIENTS)
    answers: list[tuple[int, str, dict]] = []
    lock = threading.Lock()

    def client(n: int, base: str) -> None:
        with requests.Session() as s:
            start.wait()
            for i in range(EACH):
                name = f"c{n}-{i}"
                resp = s.post(f"{base}/tasks", json={"name": name, "command": "true"},
                              headers=admin, timeout=60)
                body = resp.json() if resp.headers.get("Content-Type", "").startswith(
                    "application/json") else {"text": resp.text}
                with lock:
                    answers.append((resp.status_code, name, body))

    with live_server(app) as base:
        threads = [threading.Thread(target=client, args=(n, base), daemon=True)
                   for n in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(180)
        assert not any(t.is_alive() for t in threads), "a client hung"

    failed = [(code, body) for code, _, body in answers if code != 201]
    assert failed == []
    assert len(answers) == CLIENTS * EACH
    ids = [body["data"]["id"] for _, _, body in answers]
    assert len(set(ids)) == len(ids)
    assert dts.count() == CLIENTS * EACH
    stored = {t.id: t.meta.get("name") for t in dts.get_many(ids)}
    assert stored == {body["data"]["id"]: name for _, name, body in answers}
