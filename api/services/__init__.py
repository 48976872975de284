"""The thin layer every dialect and the dashboard call, and their only way
to the engine: tasks (lookups that raise NotFound, transitions returning
the task they wrote; a task's timeline), listings with totals and sorting
(listing), a project's tasks (project_tasks), agents' leases (agents),
agent sessions (sessions), system views and the dashboard's overview
(system), queue labels and project ids (labels), schedules (schedules),
workflows (workflows), workflow analytics and their cache (analytics) and
the dashboard's login sessions (dashboard_sessions).

The rule, held by tests/unit/test_service_boundary.py:

- api.app_state.AppState builds every service, once per app on one Keys, and
  nothing else in api/ does (the classes here named ``*Service`` or
  ``*Store``, and the engine's stores: TaskTypeStore and its ProjectStore,
  WebhookStore, WorkerRegistry). A service's own settings are given to it
  there (the schedule service's TASKQ_SCHEDULE_FUNCTIONS allow-list).
- The REST dialects (api/dialects/) and the dashboard (api/dashboard/)
  never talk to Redis themselves: no ``import redis``, no ``.redis`` or
  ``.pipeline``, and no import of an engine module that issues Redis
  commands. Pure engine helpers are fine (errors, ids, times, option
  checks, key names, cron and rrule parsing, graph checks, value classes
  and constants), by an explicit allow-list in that test. Anything else
  they need from Redis is a method here.
- A dialect's make_state picks services from AppState and parses its own
  settings; it builds none.

The shared HTTP plumbing (api.auth, api.ratelimit, api.middleware,
api.metrics, api.health) uses AppState's client itself; the dashboard
reaches the first two through AppState.authenticate and AppState.count_rate."""
