"""What operators read: the overview of every queue (``overview``), queue
latency (``latency``), the per-minute and per-hour counters (``series``)
and one task's events (``task_events``). Read-only: nothing here changes a
task."""
