"""The thin layer every dialect calls, and the only part of api/ that talks
to the engine: tasks (lookups that raise NotFound, transitions returning the
task they wrote), listings with totals and sorting (listing), a project's
tasks (project_tasks), agents' leases (agents), agent sessions (sessions),
system views (system) and queue labels (labels). AppState builds each once
per app on one Keys, so no dialect re-implements engine logic or builds
its own store."""
