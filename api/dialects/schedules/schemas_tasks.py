"""Scheduled-task schemas. Request bodies are validated by the engine
(taskq.schedules.model): the body schemas here describe them in the OpenAPI
document; the list query is parsed with its schema."""

from __future__ import annotations

import copy

from marshmallow import Schema, fields
from marshmallow.validate import OneOf, Range

from taskq.backoff import STRATEGIES
from taskq.keys import QUEUE_NAME_RE, RESERVED_QUEUE_NAMES
from taskq.schedules.model import (MISFIRE_POLICIES, PRIORITY_MAX, PRIORITY_MIN, STATUSES)
from taskq.schedules.store import MAX_PAGE, MAX_SNOOZE
from taskq.schedules.timing import KINDS

from ...numbers import QueryInt


def _doc(description: str, **extra) -> dict:
    return {"description": description, **extra}


class ScheduledTaskFieldsSchema(Schema):
    """Every field a client may set (the document's table, then taskq's own)."""

    title = fields.String(metadata=_doc("a human-readable title (1-200 characters)",
                                        example="Nightly report"))
    description = fields.String(metadata=_doc("what the task does (may be empty, at most 5000)"))
    schedule_kind = fields.String(validate=OneOf(KINDS), metadata=_doc("cron, rrule, once or event"))
    schedule_expr = fields.String(allow_none=True, metadata=_doc(
        "cron (5 fields, or 6 with seconds), an RRULE, an ISO 8601 time (once), or the event "
        "name (event; defaults to the title). Required for all but event.", example="30 1 * * *"))
    timezone = fields.String(metadata=_doc("IANA timezone (default UTC)", example="Europe/Chisinau"))
    payload = fields.Dict(metadata=_doc(
        "the pipeline definition: {\"pipeline\": [{\"step\", \"name\", \"args\", \"depends_on\"}]} "
        "or {\"callable\": \"module:function\", \"args\", \"kwargs\"} (importable functions only "
        "when TASKQ_SCHEDULE_FUNCTIONS lists them)",
        example={"pipeline": [{"step": "echo", "args": {"message": "hi"}}]}))
    created_by = fields.UUID(metadata=_doc("the id of the agent creating the task"))
    priority = fields.Integer(validate=Range(PRIORITY_MIN, PRIORITY_MAX),
                              metadata=_doc("1 (highest) to 9; default 5"))
    max_retries = fields.Integer(validate=Range(0, 100), metadata=_doc("retries of a failed run; default 3"))
    backoff_strategy = fields.String(validate=OneOf(STRATEGIES),
                                     metadata=_doc("default exponential_jitter"))
    dedupe_key = fields.String(allow_none=True, metadata=_doc(
        "runs sharing the key inside dedupe_window_seconds are recorded, not run"))
    dedupe_window_seconds = fields.Integer(allow_none=True, validate=Range(1, 30 * 24 * 3600))
    concurrency_key = fields.String(allow_none=True, metadata=_doc("runs sharing it run one at a time"))
    rate_key = fields.String(allow_none=True, metadata=_doc(
        "taskq: each run's tasks count against the rate limit set for this key on the queue"))
    misfire_policy = fields.String(validate=OneOf(MISFIRE_POLICIES), metadata=_doc(
        "taskq: after downtime, one late run (run_once, default) or none (skip)"))
    queue = fields.String(metadata={**_doc("taskq: the engine queue of the runs (default 'default')"),
                                    "pattern": QUEUE_NAME_RE.pattern,
                                    "not": {"enum": sorted(RESERVED_QUEUE_NAMES)}})


def _required(name: str) -> fields.Field:
    field = copy.copy(ScheduledTaskFieldsSchema._declared_fields[name])
    field.required = True
    return field


class ScheduledTaskCreateSchema(ScheduledTaskFieldsSchema):
    """POST /tasks: the document's required fields."""

    title = _required("title")
    description = _required("description")
    schedule_kind = _required("schedule_kind")
    payload = _required("payload")
    created_by = _required("created_by")


class ScheduledTaskListArgsSchema(Schema):
    status = fields.String(validate=OneOf(STATUSES), metadata=_doc(
        "active, paused or canceled (finished: a once or ended rrule schedule that has run)"))
    created_by = fields.UUID(metadata=_doc("the creating agent's UUID"))
    schedule_kind = fields.String(validate=OneOf(KINDS))
    limit = QueryInt(load_default=50, validate=Range(1, MAX_PAGE))
    offset = QueryInt(load_default=0, validate=Range(0, 1_000_000))


class SnoozeSchema(Schema):
    delay_seconds = fields.Integer(required=True, validate=Range(1, MAX_SNOOZE),
                                   metadata=_doc("how much later the next run is (max 1 week)"))
    reason = fields.String(metadata=_doc("why (at most 1000 characters)"))


class ScheduleRunSchema(Schema):
    run = fields.String(required=True, metadata=_doc("the run key: d<due ms> or n<sequence>"))
    fired_at = fields.String(required=True)
    outcome = fields.String(required=True, metadata=_doc("created, deduplicated or skipped"))
    status = fields.String(required=True, metadata=_doc(
        "pending, running, completed, failed, cancelled, unknown (tasks gone), or the outcome"))
    task_ids = fields.List(fields.String())
    started_at = fields.String(allow_none=True)
    ended_at = fields.String(allow_none=True)
    error = fields.String(allow_none=True)


class ScheduledTaskSchema(ScheduledTaskFieldsSchema):
    id = fields.String(required=True, metadata=_doc("the task's UUID"))
    status = fields.String(required=True, metadata=_doc("active, paused, canceled or finished"))
    event = fields.String(metadata=_doc("event tasks: the event name they fire on"))
    next_run_at = fields.String(allow_none=True, metadata=_doc("null unless active and timed"))
    last_run_at = fields.String(allow_none=True)
    created_at = fields.String()
    updated_at = fields.String()
    runs_total = fields.Integer()
    snooze_reason = fields.String(allow_none=True)
    recent_runs = fields.List(fields.Nested(ScheduleRunSchema), metadata=_doc(
        "GET /tasks/{id} and the actions: the newest runs first"))


class RunNowSchema(Schema):
    id = fields.String(required=True, metadata=_doc("the scheduled task's id"))
    run = fields.String(required=True)
    outcome = fields.String(required=True, metadata=_doc("created, or deduplicated by dedupe_key"))
    task_ids = fields.List(fields.String(), required=True, metadata=_doc("the engine tasks of the run"))


class ScheduledTaskListMetaSchema(Schema):
    total = fields.Integer(required=True)
    limit = fields.Integer(required=True)
    offset = fields.Integer(required=True)
