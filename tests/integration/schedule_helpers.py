"""What the schedule tests share: a valid schedule body (the store is the
``sched`` fixture of tests/integration/conftest.py)."""

AGENT = "6a1f4a6c-7c43-4d4c-9a0b-3d1a7b2f9c11"
HOUR = 3600_000


def spec(**over):
    base = {"title": "t", "description": "", "schedule_kind": "cron", "schedule_expr": "0 * * * *",
            "payload": {"pipeline": [{"step": "echo", "args": {"message": "hi"}}]},
            "created_by": AGENT}
    return {**base, **over}

