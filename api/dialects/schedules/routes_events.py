"""POST /events: publish an event over HTTP, as ``taskq.publish(name,
payload)`` does in Python. Every active event task waiting for the name
fires one run; the runs' tasks are enqueued before the answer (202: the
work is accepted, it runs on the workers)."""

from __future__ import annotations


from taskq.options import InvalidField

from ...auth import secured
from ...blueprint import Blueprint
from ...envelope import ok
from ...schemas import envelope
from .bodies import json_object
from .routes_tasks import body
from .schemas_events import EventSchema, PublishedSchema
from .runtime import state

blp = Blueprint("Events", __name__, description="Events that fire event tasks")

EVENT_FIELDS = ("name", "payload")


@blp.route("/events", methods=["POST"])
@secured("events:write")
@blp.doc(**body(EventSchema))
@blp.response(202, envelope(PublishedSchema))
def publish():
    """Publish an event: each active event task named by it runs once, with
    the payload in its tasks' meta.event."""
    event = json_object()
    unknown = sorted(set(event) - set(EVENT_FIELDS))
    if unknown:
        raise InvalidField(unknown[0], "unknown field")
    if "name" not in event:
        raise InvalidField("name", "is required")
    fired = state().publish(event["name"], event.get("payload"))
    return ok({"name": event["name"], "fired": [{"id": sid, "run": run} for sid, run in fired]})
