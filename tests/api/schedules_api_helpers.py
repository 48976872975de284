"""What the scheduled-tasks dialect's tests share: credentials, a valid
body, creating one, and the shape of a 422."""

from __future__ import annotations

from datetime import datetime, timedelta

from apihelpers import bearer

AGENT = "6a1f4a6c-7c43-4d4c-9a0b-3d1a7b2f9c11"
OTHER_AGENT = "0b7e0c8e-58b4-4a57-9d8e-2c0a6d3d9e55"
MISSING = "00000000-0000-4000-8000-000000000000"
WRITE, READ, EVENTS = bearer("schedules:write"), bearer("schedules:read"), bearer("events:write")
DOCUMENT_FIELDS = ("title", "description", "schedule_kind", "schedule_expr", "timezone", "payload",
                   "created_by", "priority", "max_retries", "backoff_strategy", "dedupe_key",
                   "dedupe_window_seconds", "concurrency_key")


def spec(**over):
    base = {"title": "nightly", "description": "the nightly run", "schedule_kind": "cron",
            "schedule_expr": "0 * * * *", "timezone": "UTC",
            "payload": {"pipeline": [{"step": "echo", "args": {"message": "hi"}}]},
            "created_by": AGENT}
    base.update(over)
    return {k: v for k, v in base.items() if v is not ...}


def create(client, **over) -> dict:
    rv = client.post("/tasks", json=spec(**over), headers=WRITE)
    assert rv.status_code == 201, rv.json
    return rv.json["data"]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def future_iso(hours: int = 48) -> str:
    return (datetime.now().replace(microsecond=0) + timedelta(hours=hours)).isoformat()


def field_error(rv, field: str) -> None:
    """A 422 in the /api object style naming ``field``."""
    assert rv.status_code == 422, rv.json
    body = rv.json
    assert body["success"] is False and body["error"]["code"] == "validation_error"
    assert [d["field"] for d in body["validationDetails"]] == [field], body
    assert field in body["error"]["details"]["fields"]
    assert body["correlationId"] and body["timestamp"]
