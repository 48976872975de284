"""Step code for the workflow tests (imported by a real `taskq worker`)."""

from __future__ import annotations

from taskq import current_task


class Source:
    def process(self, context, inputs, dependencies):
        return {"n": context["n"], "seen_inputs": inputs}


def double(context, inputs, dependencies):
    return {"n": dependencies["source"]["n"] * 2}


def add_ten(context, inputs, dependencies):
    return {"n": dependencies["source"]["n"] + inputs.get("plus", 10)}


def join(context, inputs, dependencies):
    return {"sum": dependencies["double"]["n"] + dependencies["add_ten"]["n"],
            "deps": sorted(dependencies)}


def flaky(context, inputs, dependencies):
    """Fails its first attempt, succeeds on the next."""
    attempt = current_task().attempt
    if attempt < 2:
        raise ConnectionError(f"gateway timeout on attempt {attempt}")
    return {"attempt": attempt}


def broken(context, inputs, dependencies):
    raise ValueError("card declined")


def after(context, inputs, dependencies):
    return {"got": dependencies}
