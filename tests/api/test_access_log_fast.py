"""The access log's direct write (api.middleware._write_log): the same line
logging would write while the logger is as setup_logging left it, and
logging itself as soon as anything else is attached."""

from __future__ import annotations

import io
import json
import logging

from api import middleware


def test_one_line_per_request_through_the_own_handler(client, admin, monkeypatch):
    if not middleware._OWN:
        middleware.access_log.handlers.clear()
        middleware.setup_logging()
    handler, _ = middleware._OWN[0]
    monkeypatch.setattr(middleware.access_log, "handlers", [handler])
    monkeypatch.setattr(handler, "stream", io.StringIO())
    called = []
    monkeypatch.setattr(middleware.access_log, "info", lambda *a: called.append(a))
    client.get("/api/tasks", headers={**admin, "User-Agent": "probe/1"})
    lines = handler.stream.getvalue().splitlines(keepends=True)
    assert len(lines) == 1 and lines[0].endswith("\n") and not called
    line = json.loads(lines[0])
    assert line["path"] == "/api/tasks" and line["status"] == 200 and line["user_agent"] == "probe/1"


def test_any_other_handler_gets_records_through_logging(client, admin, monkeypatch):
    if not middleware._OWN:
        middleware.access_log.handlers.clear()
        middleware.setup_logging()
    handler, _ = middleware._OWN[0]
    seen = []

    class Keep(logging.Handler):
        def emit(self, record):
            seen.append(record.getMessage())
    monkeypatch.setattr(middleware.access_log, "handlers", [handler, Keep()])
    monkeypatch.setattr(handler, "stream", io.StringIO())
    client.get("/api/tasks", headers=admin)
    assert len(seen) == 1 and json.loads(seen[0])["status"] == 200
    assert handler.stream.getvalue() == seen[0] + "\n"  # the own handler still writes its line once
