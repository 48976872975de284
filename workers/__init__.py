"""Worker processes: the rq worker classes, the fast pool worker, the scheduler loop."""
